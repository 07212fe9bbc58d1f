using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace LicenseBroker.Server.Identity;

/// <summary>
/// Section "Tls": client certificates (mutual TLS). The server certificate itself is Kestrel's own
/// setting: an https:// URL with Kestrel:Endpoints:Grpc:Certificate:Path and KeyPath.
/// </summary>
public sealed class TlsOptions
{
    public const string SectionName = "Tls";

    /// <summary>NoCertificate, AllowCertificate (mTLS optional) or RequireCertificate (mTLS for every caller).</summary>
    public ClientCertificateMode ClientCertificateMode { get; set; } = ClientCertificateMode.NoCertificate;

    /// <summary>PEM file of the CA that client certificates must chain to (required with client certificates).</summary>
    public string? ClientCaPath { get; set; }
}

/// <summary>Kestrel's TLS settings from <see cref="TlsOptions"/>.</summary>
public static class TlsConfiguration
{
    public static WebApplicationBuilder AddBrokerTls(this WebApplicationBuilder builder)
    {
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            var tls = context.Configuration.GetSection(TlsOptions.SectionName).Get<TlsOptions>() ?? new TlsOptions();
            if (tls.ClientCertificateMode == ClientCertificateMode.NoCertificate)
            {
                return;
            }

            if (tls.ClientCaPath is null)
            {
                throw new InvalidOperationException("Tls:ClientCaPath is required when client certificates are accepted.");
            }

            var ca = X509CertificateLoader.LoadCertificateFromFile(tls.ClientCaPath);
            kestrel.ConfigureHttpsDefaults(https =>
            {
                https.ClientCertificateMode = tls.ClientCertificateMode;

                // Trust exactly the configured CA, not the machine's store.
                https.ClientCertificateValidation = (certificate, _, _) => ChainsTo(certificate, ca);
            });
        });
        return builder;
    }

    private static bool ChainsTo(X509Certificate2 certificate, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.2"));
        return chain.Build(certificate);
    }
}
