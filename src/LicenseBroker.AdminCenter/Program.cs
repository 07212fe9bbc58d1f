using LicenseBroker.AdminCenter;
using LicenseBroker.AdminCenter.Components;
using LicenseBroker.AdminCenter.Components.Shared;
using LicenseBroker.AdminCenter.Extensions;
using LicenseBroker.AdminCenter.Security;
using Microsoft.Extensions.Options;

var builder = WebApplication.CreateBuilder(args);
builder.AddAdminCenter();

var app = builder.Build();
var options = app.Services.GetRequiredService<IOptions<AdminCenterOptions>>().Value;

app.UseSecurityHeaders(options.Oidc.Authority);
app.UseStaticFiles();
app.UseRequestLocalization();
app.UseAuthentication();
app.UseAdminTimeZone(); // after authentication: the chosen zone is the signed-in person's
app.UseAuthorization();
app.UseAntiforgery();
app.MapAdminCenterEndpoints();
app.MapActivityExport();
app.MapOverageExport();
app.MapHistoryExport();
app.MapRazorComponents<App>();

await app.StartAsync();
if (!AdminCenterEndpoints.DevSignInAllowed(app, options))
{
    await app.StopAsync();
    return 1;
}

await app.WaitForShutdownAsync();
return 0;
