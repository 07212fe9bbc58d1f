namespace LicenseBroker.AdminCenter.Security;

/// <summary>
/// Headers on every answer: a Content-Security-Policy with no inline script (pages are rendered on the server and
/// forms post back; the one script, time-zone.js, only reports the browser's time zone), no framing, no sniffing.
/// </summary>
public static class SecurityHeaders
{
    public static string ContentSecurityPolicy(Uri? authority)
    {
        // A form's redirect is checked against form-action too: sign-out ends at the identity provider.
        var formTargets = authority is null ? "'self'" : $"'self' {authority.GetLeftPart(UriPartial.Authority)}";
        return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
            + $"base-uri 'self'; form-action {formTargets}; frame-ancestors 'none'";
    }

    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app, Uri? authority)
    {
        var policy = ContentSecurityPolicy(authority);
        return app.Use(async (context, next) =>
        {
            context.Response.OnStarting(() =>
            {
                var headers = context.Response.Headers;
                headers.ContentSecurityPolicy = policy;
                headers.XContentTypeOptions = "nosniff";
                headers.XFrameOptions = "DENY";
                headers["Referrer-Policy"] = "no-referrer";
                headers.CacheControl = "no-store";
                return Task.CompletedTask;
            });
            await next();
        });
    }
}
