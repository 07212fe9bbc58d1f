using LicenseBroker.Server;
using LicenseBroker.Server.Extensions;

// `LicenseBroker.Server migrate` applies the database migrations and exits (for a deploy job);
// without arguments the broker serves.
var app = BrokerApp.Build(args);
if (args is ["migrate", ..])
{
    await app.MigrateDatabaseAsync();
    return;
}

await app.RunAsync();
