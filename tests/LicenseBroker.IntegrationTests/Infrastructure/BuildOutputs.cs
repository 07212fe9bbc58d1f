namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>The project binaries as built in their own folders, in the configuration the tests run in.</summary>
internal static class BuildOutputs
{
    public static string Server => Find("LicenseBroker.Server", "LicenseBroker.Server.dll");

    public static string Cli => Find("LicenseBroker.Cli", "licensebroker-cli.dll");

    public static string AdminCenter => Find("LicenseBroker.AdminCenter", "LicenseBroker.AdminCenter.dll");

    /// <summary>The repository's root folder (the one holding LicenseBroker.sln).</summary>
    public static string RepositoryRoot
    {
        get
        {
            var root = new DirectoryInfo(AppContext.BaseDirectory);
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "LicenseBroker.sln")))
            {
                root = root.Parent;
            }

            return root?.FullName ?? throw new DirectoryNotFoundException("LicenseBroker.sln not found above " + AppContext.BaseDirectory);
        }
    }

    private static string Find(string project, string file)
    {
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory);
        var path = Path.Combine(RepositoryRoot, "src", project, "bin", testOutput.Parent!.Name, testOutput.Name, file);
        return File.Exists(path) ? path : throw new FileNotFoundException("Build the solution first (dotnet build LicenseBroker.sln).", path);
    }
}
