using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>
/// Debian's headless Chromium driven through its ChromeDriver (both installed by ./scripts/test),
/// with the waits a test needs: for an element, never for a fixed time.
/// </summary>
internal sealed class Browser : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly ChromeDriver _driver;

    public Browser(string? acceptLanguage = null)
    {
        var service = ChromeDriverService.CreateDefaultService("/usr/bin", "chromedriver");
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = "/usr/bin/chromium" };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000");
        if (acceptLanguage is not null)
        {
            options.AddArgument("--lang=" + acceptLanguage.Split(',')[0]);
            options.AddUserProfilePreference("intl.accept_languages", acceptLanguage);
        }

        _driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    public IWebDriver Driver => _driver;

    /// <summary>Lays pages out as a phone of <paramref name="width"/> CSS pixels would (device metrics, not the window).</summary>
    public void Viewport(int width, int height = 800) => _driver.ExecuteCdpCommand(
        "Emulation.setDeviceMetricsOverride",
        new Dictionary<string, object?> { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false });

    /// <summary>The browser reports <paramref name="ianaZone"/> as its own time zone (Intl, Date), as one in that zone would.</summary>
    public void EmulateTimeZone(string ianaZone) => _driver.ExecuteCdpCommand(
        "Emulation.setTimezoneOverride", new Dictionary<string, object?> { ["timezoneId"] = ianaZone });

    /// <summary>How much wider than the window the document is (0: it fits; it scrolls sideways otherwise).</summary>
    public long Overflow() => (long)_driver.ExecuteScript("return document.documentElement.scrollWidth - window.innerWidth;")!;

    /// <summary>Moves the focus with the Tab key alone until the element of id <paramref name="id"/> has it (at most 80 presses).</summary>
    public void TabTo(string id)
    {
        for (var presses = 0; presses < 80; presses++)
        {
            if (_driver.SwitchTo().ActiveElement().GetAttribute("id") == id)
            {
                return;
            }

            new OpenQA.Selenium.Interactions.Actions(_driver).SendKeys(Keys.Tab).Perform();
        }

        throw new WebDriverException($"#{id} never got the focus from the keyboard");
    }

    /// <summary>Presses a key on whatever has the focus.</summary>
    public void Press(string key) => new OpenQA.Selenium.Interactions.Actions(_driver).SendKeys(key).Perform();

    private static readonly Lazy<string> AxeScript = new(() => new Deque.AxeCore.Commons.BundledAxeScriptProvider().GetScript());

    /// <summary>axe-core's violations on the current page (every rule, every impact), one line each: rule, impact, elements.</summary>
    public IReadOnlyList<string> AxeViolations()
    {
        _driver.ExecuteScript(AxeScript.Value);
        var found = (string)_driver.ExecuteAsyncScript(
            """
            const done = arguments[arguments.length - 1];
            axe.run(document).then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')).join('\n')));
            """)!;
        return found.Length == 0 ? [] : found.Split('\n');
    }

    /// <summary>The innermost elements that reach past the window's right edge, or whose text overflows them, for a failure message.</summary>
    public string TooWide() => (string)_driver.ExecuteScript(
        """
        const w = window.innerWidth;
        return [...document.querySelectorAll('body *')]
          .filter(e => (e.getBoundingClientRect().right > w + 0.5 && ![...e.children].some(c => c.getBoundingClientRect().right > w + 0.5))
            || (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible' && e.clientWidth > 0))
          .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' "' + (e.textContent || '').trim().slice(0, 40) + '" ' + Math.round(e.getBoundingClientRect().right))
          .join('; ');
        """)!;

    public string Url => _driver.Url;

    public string PageText => _driver.FindElement(By.TagName("body")).Text;

    public void Go(Uri address) => _driver.Navigate().GoToUrl(address);

    /// <summary>The element, once it is on the page.</summary>
    public IWebElement Find(string css) =>
        new WebDriverWait(_driver, Patience).Until(d => d.FindElements(By.CssSelector(css)).FirstOrDefault(), CancellationToken.None)
        ?? throw new WebDriverTimeoutException("no " + css);

    public IReadOnlyList<IWebElement> All(string css) => _driver.FindElements(By.CssSelector(css));

    public bool Has(string css) => _driver.FindElements(By.CssSelector(css)).Count > 0;

    /// <summary>Waits until the condition holds on the current page.</summary>
    public void WaitUntil(Func<Browser, bool> condition, string what)
    {
        try
        {
            // An element read while its page is being replaced is stale (or, in Chromium, "does not
            // belong to the document"): that is "not yet", not a failure.
            new WebDriverWait(_driver, Patience).Until(_ =>
            {
                try
                {
                    return condition(this);
                }
                catch (StaleElementReferenceException)
                {
                    return false;
                }
                catch (WebDriverException ex) when (ex.Message.Contains("does not belong to the document", StringComparison.Ordinal))
                {
                    return false;
                }
            });
        }
        catch (WebDriverTimeoutException)
        {
            throw new TimeoutException($"Timed out waiting for {what} at {_driver.Url}:\n{PageText}");
        }
    }

    /// <summary>Clicks what does not leave the page (a checkbox, an option).</summary>
    public void Click(string css) => Find(css).Click();

    /// <summary>
    /// Clicks what loads another page (a submit button, a link) and waits until the old page is gone,
    /// so that the next Find cannot return an element of the page being left.
    /// </summary>
    public void Submit(string css)
    {
        var page = _driver.FindElement(By.TagName("html"));
        Find(css).Click();
        WaitUntil(_ => IsGone(page), "the next page after clicking " + css);
    }

    private static bool IsGone(IWebElement element)
    {
        try
        {
            _ = element.TagName;
            return false;
        }
        catch (StaleElementReferenceException)
        {
            return true;
        }
    }

    /// <summary>A PNG of the page, for the README (under docs/ when LB_SCREENSHOTS_DIR is set, else the test output).</summary>
    public void Screenshot(string name)
    {
        var folder = Environment.GetEnvironmentVariable("LB_SCREENSHOTS_DIR") is { Length: > 0 } dir ? dir : Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(folder);
        _driver.GetScreenshot().SaveAsFile(Path.Combine(folder, name + ".png"));
    }

    public void Dispose()
    {
        _driver.Quit();
        _driver.Dispose();
    }
}
