using System.Reflection;
using System.Text;
using System.Xml.Linq;
using Google.Protobuf.Reflection;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace LicenseBroker.Server.Rest;

/// <summary>
/// The comments of protos/ (the public documentation of the contract), as Grpc.Tools carried them
/// into the XML documentation file of LicenseBroker.Contracts. Runtime descriptors do not keep
/// comments, so the OpenAPI description reads them from there; without the file it has none.
/// </summary>
public sealed class ContractDocumentation
{
    private readonly Dictionary<string, string> _summaries;

    private ContractDocumentation(Dictionary<string, string> summaries)
    {
        _summaries = summaries;
    }

    /// <summary>Reads the documentation file beside the contracts assembly, if it is there.</summary>
    public static ContractDocumentation Load(Assembly contracts)
    {
        var path = Path.ChangeExtension(contracts.Location, ".xml");
        var summaries = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!string.IsNullOrEmpty(contracts.Location) && File.Exists(path))
        {
            foreach (var member in XDocument.Load(path).Descendants("member"))
            {
                var name = (string?)member.Attribute("name");
                var summary = member.Element("summary");
                if (name is not null && summary is not null)
                {
                    summaries[name] = Clean(summary.Value);
                }
            }
        }

        return new ContractDocumentation(summaries);
    }

    public string? For(MessageDescriptor message) => Find("T:" + ClrName(message.ClrType));

    public string? For(EnumDescriptor enumeration) => Find("T:" + ClrName(enumeration.ClrType));

    public string? For(FieldDescriptor field) =>
        Find($"P:{ClrName(field.ContainingType.ClrType)}.{field.PropertyName}");

    public string? For(ServiceDescriptor service) => Find($"T:{service.File.GetOptions()?.CsharpNamespace}.{service.Name}");

    public string? For(MethodDescriptor method)
    {
        // The server base class carries the rpc's comment: Service.ServiceBase.Method(Request, ServerCallContext).
        var prefix = $"M:{method.Service.File.GetOptions()?.CsharpNamespace}.{method.Service.Name}.{method.Service.Name}Base.{method.Name}(";
        return _summaries.FirstOrDefault(entry => entry.Key.StartsWith(prefix, StringComparison.Ordinal)).Value;
    }

    private string? Find(string key) => _summaries.TryGetValue(key, out var text) ? text : null;

    private static string ClrName(Type type) => type.FullName!.Replace('+', '.');

    /// <summary>Joins the comment's lines into one paragraph each (blank lines separate paragraphs).</summary>
    private static string Clean(string text)
    {
        var result = new StringBuilder();
        var blank = false;
        foreach (var line in text.Split('\n').Select(l => l.Trim()))
        {
            if (line.Length == 0)
            {
                blank = result.Length > 0;
                continue;
            }

            if (result.Length > 0)
            {
                result.Append(blank ? "\n\n" : " ");
            }

            result.Append(line);
            blank = false;
        }

        return result.ToString();
    }
}
