"""The operator's brand page (operator console) and the logo, served safely to anyone."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from tenantry.branding.models import SINGLETON, Brand
from tenantry.branding.selectors import brand_conf, current_brand, logo_path
from tenantry.branding.services import BrandInput, brand_update
from tenantry.core.errors import ValidationError


class BrandForm(forms.Form):
    name = forms.CharField(label=_("Name"), required=False, max_length=100)
    primary_color = forms.CharField(label=_("Primary colour"), required=False, max_length=7,
                                    widget=forms.TextInput(attrs={"placeholder": "#4f46e5"}))
    accent_color = forms.CharField(label=_("Accent colour"), required=False, max_length=7,
                                   widget=forms.TextInput(attrs={"placeholder": "#4338ca"}))
    support_email = forms.CharField(label=_("Support email"), required=False, max_length=254)
    legal_footer = forms.CharField(label=_("Legal footer"), required=False, max_length=1000,
                                   widget=forms.Textarea(attrs={"rows": 3}),
                                   help_text=_("Plain text: company, address, VAT number…"))
    logo = forms.FileField(label=_("Logo file"), required=False,
                           help_text=_("PNG, JPEG, GIF or WebP; SVG is refused."))
    logo_url = forms.CharField(label=_("or logo URL"), required=False, max_length=500)
    remove_logo = forms.BooleanField(label=_("Remove the logo"), required=False)


@staff_member_required
def operator_brand(request: HttpRequest) -> HttpResponse:
    row = Brand.objects.filter(key=SINGLETON).first()
    if request.method == "POST":
        form = BrandForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["logo"]
            limit = brand_conf()["LOGO_MAX_BYTES"]
            # Read one byte past the limit: enough to refuse, never the whole of a huge upload.
            content = upload.read(limit + 1) if upload else None
            data = BrandInput(**{k: form.cleaned_data[k] for k in (
                "name", "primary_color", "accent_color", "support_email", "legal_footer", "logo_url",
                "remove_logo")}, logo=content)
            try:
                brand_update(actor=request.user.get_username(), data=data)
            except ValidationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("The brand is saved."))
                return redirect("branding:operator_brand")
        status = 422
    else:
        initial = {k: getattr(row, k) for k in ("name", "primary_color", "accent_color", "support_email",
                                                "legal_footer", "logo_url")} if row else {}
        form, status = BrandForm(initial=initial), 200
    return render(request, "branding/operator_brand.html",
                  {"nav": "operator_brand", "form": form, "defaults": brand_conf(), "preview": current_brand()},
                  status=status)


@require_GET
def logo(request: HttpRequest, name: str) -> FileResponse:
    """The uploaded logo, under its content address: only the current one, with the type checked
    at upload, never sniffed, never run (sandbox), cached for good by browsers."""
    brand = current_brand()
    path = logo_path(name)
    if name != brand.logo_file or path is None or not path.exists():
        raise Http404("No such logo")
    response = FileResponse(path.open("rb"), content_type=brand.logo_content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"  # emails and edge pages show it
    return response
