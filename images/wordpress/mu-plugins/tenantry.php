<?php
/*
 * Plugin Name: Tenantry
 * Description: What running behind Tenantry's proxy needs.
 *
 * WordPress offers application passwords only over https (or on a "local" site). Behind Tenantry
 * the proxy terminates TLS and calls from the control plane and from the customer's n8n reach
 * the site over a private network in plain HTTP, where WordPress would refuse them; whether the
 * public address is https is the operator's choice (TENANTRY_PUBLIC_SCHEME), not the site's.
 */
add_filter('wp_is_application_passwords_available', '__return_true');

/*
 * Pretty permalinks from the first start: the REST API lives at /wp-json/ (what n8n's WordPress
 * node calls). WordPress's installer enables them only after fetching the site's own public
 * address, which a container often cannot reach; nginx routes every path to index.php anyway.
 */
add_action('wp_install', function () {
    global $wp_rewrite;
    if (!get_option('permalink_structure')) {
        $wp_rewrite->set_permalink_structure('/%postname%/');
        flush_rewrite_rules(false);
    }
});
