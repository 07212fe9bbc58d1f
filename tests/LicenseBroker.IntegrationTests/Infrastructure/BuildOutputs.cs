namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>The project binaries as built in their own folders, in the configuration the tests run in.</summary>
internal static class BuildOutputs
{
    public static string Server => Find("LicenseBroker.Server", "LicenseBroker.Server.dll");

    public static string Cli => Find("LicenseBroker.Cli", "licensebroker-cli.dll");

    private static string Find(string project, string file)
    {
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory);
        var root = testOutput;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "LicenseBroker.sln")))
        {
            root = root.Parent;
        }

        var path = Path.Combine(root!.FullName, "src", project, "bin", testOutput.Parent!.Name, testOutput.Name, file);
        return File.Exists(path) ? path : throw new FileNotFoundException("Build the solution first (dotnet build LicenseBroker.sln).", path);
    }
}
