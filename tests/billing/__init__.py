import pytest

# Shared fixtures and helpers whose asserts should report like the tests' own.
pytest.register_assert_rewrite("tests.billing.payments_helpers")
