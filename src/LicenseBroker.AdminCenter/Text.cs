using System.Globalization;
using Microsoft.Extensions.Localization;

namespace LicenseBroker.AdminCenter;

/// <summary>The console's texts: Resources/Text.resx (English) and Text.fr.resx (French, worded as the help articles).</summary>
public sealed class Text
{
}

/// <summary>Texts that say a count: a <c>_one</c> and an <c>_other</c> form of each, never "(s)".</summary>
public static class TextPlurals
{
    /// <summary>
    /// The form of <paramref name="key"/> for <paramref name="count"/> by the Unicode CLDR plural rule of the UI language
    /// (French: 0 and 1 are "one"; English: 1 only), with the count, formatted, as {0} and <paramref name="more"/> after it.
    /// </summary>
    /// <remarks>
    /// Written here because the two rules are one line each and no package served to this project does it for French
    /// (Humanizer's inflector is English-only; no ICU MessageFormat package is available).
    /// </remarks>
    public static string Plural(this IStringLocalizer<Text> text, string key, int count, params object[] more)
    {
        var one = CultureInfo.CurrentUICulture.TwoLetterISOLanguageName == "fr" ? count is 0 or 1 : count == 1;
        return text[key + (one ? "_one" : "_other"), [count.ToString("N0", CultureInfo.CurrentCulture), .. more]];
    }
}
