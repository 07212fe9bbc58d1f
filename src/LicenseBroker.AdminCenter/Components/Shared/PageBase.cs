using LicenseBroker.AdminCenter.Auth;
using LicenseBroker.AdminCenter.Broker;
using LicenseBroker.Contracts.V1;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Http;

namespace LicenseBroker.AdminCenter.Components.Shared;

/// <summary>What every console page has: the request, the broker, and the account's products.</summary>
public abstract class PageBase : ComponentBase
{
    [CascadingParameter]
    public HttpContext HttpContext { get; set; } = default!;

    [Inject]
    public AdminBroker Broker { get; set; } = default!;

    [SupplyParameterFromQuery(Name = "product")]
    public string? ProductQuery { get; set; }

    /// <summary>The account's subscribed products with their Seats &amp; Devices figures (empty if the caller may not read them).</summary>
    protected IReadOnlyList<ProductSeatUsage> Usage { get; private set; } = [];

    protected IReadOnlyList<string> Products => Usage.Select(u => u.Product).ToList();

    /// <summary>
    /// The product the page shows: the one asked for if the account has it, else the one an admin most likely means
    /// (the most shared seats in use, else the first with seats to give, else the first).
    /// </summary>
    protected string? Product { get; private set; }

    /// <summary>The name the account's people know a product by ("Remote Support"), never its code where the broker gave one.</summary>
    protected string ProductName(string code) => NameOf(Usage, code);

    /// <summary>A product's name in the account's usage (what the broker gave), its code when it gave none.</summary>
    public static string NameOf(IReadOnlyList<ProductSeatUsage> usage, string code) =>
        usage.FirstOrDefault(u => u.Product == code)?.DisplayName is { Length: > 0 } name ? name : code;

    /// <summary>The name of an agent group with a rule in the product ("Night shift"), its id when the broker gave none.</summary>
    protected string GroupName(string product, string groupId) =>
        Usage.FirstOrDefault(u => u.Product == product)?.Groups.FirstOrDefault(g => g.GroupId == groupId)?.DisplayName is { Length: > 0 } name ? name : groupId;

    /// <summary>Whether everyone may use the product without seats (Monitoring).</summary>
    protected bool IsUnlimited(string code) => Usage.FirstOrDefault(u => u.Product == code)?.Unlimited == true;

    protected BrokerProblem? Problem { get; set; }

    protected async Task LoadProductsAsync()
    {
        var usage = await Broker.CallAsync(async (admin, headers) => await admin.GetSeatUsageAsync(new GetSeatUsageRequest(), headers));
        Usage = usage.Value?.Products ?? (IReadOnlyList<ProductSeatUsage>)[];
        Problem ??= usage.Problem is { NotAllowed: true } ? null : usage.Problem;
        if (Products.Contains(ProductQuery ?? string.Empty))
        {
            Product = ProductQuery;
            RememberProduct(ProductQuery!);
        }
        else
        {
            Product = RememberedProduct() is { } remembered && Products.Contains(remembered) ? remembered : MostLikelyProduct(Usage);
        }
    }

    // The product an admin last chose, per admin and browser: a cookie holding a hash of who chose it and the product
    // code, so another admin signing in on the same browser starts from the likeliest product, not someone else's.
    private const string RememberedProductCookie = "lb_product";

    private string AdminHash()
    {
        var admin = HttpContext.User.AccountId() + "/" + (HttpContext.User.FindFirst("sub")?.Value ?? HttpContext.User.Identity?.Name ?? string.Empty);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(admin)))[..16];
    }

    private string? RememberedProduct() =>
        HttpContext.Request.Cookies[RememberedProductCookie] is { } value && value.Split('|') is [var who, var product] && who == AdminHash() ? product : null;

    private void RememberProduct(string product)
    {
        if (!HttpContext.Response.HasStarted && RememberedProduct() != product)
        {
            HttpContext.Response.Cookies.Append(RememberedProductCookie, AdminHash() + "|" + product, new CookieOptions
            {
                HttpOnly = true,
                IsEssential = true,
                SameSite = SameSiteMode.Lax,
                Secure = HttpContext.Request.IsHttps,
                MaxAge = TimeSpan.FromDays(365),
            });
        }
    }

    /// <summary>The product a page about one product opens on when none is asked for.</summary>
    public static string? MostLikelyProduct(IReadOnlyList<ProductSeatUsage> usage) =>
        usage.Where(u => u.ConcurrentSeatsInUse > 0).OrderByDescending(u => u.ConcurrentSeatsInUse).FirstOrDefault()?.Product
        ?? usage.FirstOrDefault(u => !u.Unlimited && (u.ConcurrentSeatLimit > 0 || u.NamedSeatLimit > 0))?.Product
        ?? (usage.Count > 0 ? usage[0].Product : null);

    /// <summary>Every value of a posted field (e.g. the checked boxes named "lease").</summary>
    protected IReadOnlyList<string> Posted(string name) =>
        HttpContext.Request.HasFormContentType ? HttpContext.Request.Form[name].Where(v => !string.IsNullOrEmpty(v)).Select(v => v!).ToList() : [];

    protected string PostedOne(string name) => Posted(name) is [var first, ..] ? first : string.Empty;
}
