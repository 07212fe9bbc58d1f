namespace LicenseBroker.Domain.Entitlements;

/// <summary>One Ed25519 key pair that signs entitlement documents; <see cref="RetiredAt"/> null while it signs.</summary>
public sealed record SigningKey(string Kid, byte[] PublicKey, byte[] PrivateKey, DateTimeOffset CreatedAt, DateTimeOffset? RetiredAt);

/// <summary>Where the signing keys live, shared by every replica.</summary>
public interface ISigningKeyStore
{
    /// <summary>The key that signs (created when there is none) and the retired keys still published (retired after <paramref name="retiredAfter"/>).</summary>
    Task<IReadOnlyList<SigningKey>> ListAsync(DateTimeOffset retiredAfter, CancellationToken cancellationToken);

    /// <summary>Stores <paramref name="key"/> as the one that signs, retiring the previous one now (one transaction).</summary>
    Task RotateAsync(SigningKey key, CancellationToken cancellationToken);

    /// <summary>Stores <paramref name="key"/> as the first key, unless another replica stored one first.</summary>
    Task AddFirstAsync(SigningKey key, CancellationToken cancellationToken);
}
