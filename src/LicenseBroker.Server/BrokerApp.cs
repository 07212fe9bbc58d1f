using LicenseBroker.Server.Extensions;

namespace LicenseBroker.Server;

/// <summary>Builds the broker application; shared by Program.cs and the integration tests.</summary>
public static class BrokerApp
{
    /// <param name="args">Command-line arguments (settings may be given as --Section:Key=value).</param>
    /// <param name="settings">Settings over every other source, in place before any service is
    /// registered (some choices, such as whether traces are recorded, are made at registration).</param>
    /// <param name="configure">Lets tests replace services before the app is built.</param>
    public static WebApplication Build(string[] args, IEnumerable<KeyValuePair<string, string?>>? settings = null, Action<WebApplicationBuilder>? configure = null)
    {
        // Settings files sit beside the binary, wherever the process was started from.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }

        builder.AddBrokerServices();
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapBrokerEndpoints();
        return app;
    }
}
