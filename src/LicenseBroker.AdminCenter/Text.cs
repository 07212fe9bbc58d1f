namespace LicenseBroker.AdminCenter;

/// <summary>The console's texts: Resources/Text.resx (English) and Text.fr.resx (French, worded as the help articles).</summary>
public sealed class Text
{
}
