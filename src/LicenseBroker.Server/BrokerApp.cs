using LicenseBroker.Server.Extensions;

namespace LicenseBroker.Server;

/// <summary>Builds the broker application; shared by Program.cs and the integration tests.</summary>
public static class BrokerApp
{
    /// <param name="args">Command-line arguments (settings may be given as --Section:Key=value).</param>
    /// <param name="configure">Lets tests replace settings or services before the app is built.</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // Settings files sit beside the binary, wherever the process was started from.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.AddBrokerServices();
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapBrokerEndpoints();
        return app;
    }
}
