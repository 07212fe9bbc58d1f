namespace LicenseBroker.Server.Extensions;

/// <summary>
/// Plain HTTP/1.1 listeners beside the gRPC one (Prometheus scrapes, REST/JSON), so their clients
/// need no HTTP/2: each from settings "{section}:Port" (0 turns it off) and "{section}:Address"
/// (loopback by default), read when Kestrel starts, after every configuration source is in.
/// </summary>
public static class SideListenerExtensions
{
    public static int SideListenerPort(this IConfiguration configuration, string section, int defaultPort) =>
        configuration.GetValue($"{section}:Port", defaultPort);

    public static WebApplicationBuilder AddSideListener(this WebApplicationBuilder builder, string section, int defaultPort)
    {
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            var port = context.Configuration.SideListenerPort(section, defaultPort);
            if (port > 0)
            {
                kestrel.Listen(System.Net.IPAddress.Parse(context.Configuration.GetValue($"{section}:Address", "127.0.0.1")!), port);
            }
        });
        return builder;
    }
}
