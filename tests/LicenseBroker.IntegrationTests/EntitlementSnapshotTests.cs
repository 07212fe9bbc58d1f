using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using LicenseBroker.Cli;
using LicenseBroker.Client.Entitlements;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Signed entitlement snapshots, the change stream and the SDK's local check, against three real replicas
/// over one Redis and one database (docs/entitlements.md).
/// </summary>
public sealed class EntitlementSnapshotTests : IAsyncLifetime
{
    private const string Product = "remote-support";

    // Short enough that staleness and key expiry are seen in seconds; keep-alives well inside it.
    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Entitlements:SnapshotLifetime"] = "00:00:04",
        ["Entitlements:KeepAliveInterval"] = "00:00:00.500",
        ["Entitlements:RefreshInterval"] = "00:00:02",
    };

    private readonly List<BrokerTestHost> _replicas = [];
    private readonly List<int> _ports = [];
    private TestDatabase? _database;
    private string _prefix = string.Empty;
    private int _restPort;

    private TestDatabase Database => _database!;

    private BrokerTestHost A => _replicas[0];

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        _restPort = Processes.FreePort();
        _replicas.Add(await BrokerTestHost.StartAsync(_database, new Dictionary<string, string?>(Settings) { ["Rest:Port"] = _restPort.ToString(System.Globalization.CultureInfo.InvariantCulture) }));
        _prefix = A.Services.GetRequiredRedisPrefix();
        for (var i = 1; i < 3; i++)
        {
            _replicas.Add(await BrokerTestHost.StartAsync(_database, new Dictionary<string, string?>(Settings), keyPrefix: _prefix, signingKey: A.SigningKey));
        }

        _ports.AddRange(_replicas.Select(r => r.Address.Port));
    }

    public async Task DisposeAsync()
    {
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    [Fact]
    public async Task Three_caches_on_three_replicas_see_each_of_200_seat_changes_within_a_second()
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync(concurrentSeats: 5);
        var agent = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var caches = new List<EntitlementCache>();
        try
        {
            foreach (var replica in _replicas)
            {
                var cache = NewCache(replica, account);
                await cache.StartAsync();
                caches.Add(cache);
            }

            foreach (var cache in caches)
            {
                await FollowingAsync(cache);
            }

            Assert.All(caches, cache => Assert.True(cache.IsEntitled(agent, Product)));
            var latencies = new List<TimeSpan>();
            for (var i = 0; i < 200; i++)
            {
                var entitled = i % 2 == 1;
                var clock = Stopwatch.StartNew();
                if (entitled)
                {
                    await A.AdminClient.AssignSeatAsync(new AssignSeatRequest { AgentId = agent, Product = Product, SeatType = SeatType.Concurrent }, A.AdminHeaders(account));
                }
                else
                {
                    await A.AdminClient.UnassignSeatAsync(new UnassignSeatRequest { AgentId = agent, Product = Product }, A.AdminHeaders(account));
                }

                // Measured from the admin's answer (the commit is before it), per cache, polled every 2 ms.
                var seen = new TimeSpan?[caches.Count];
                while (seen.Any(s => s is null) && clock.Elapsed < TimeSpan.FromSeconds(10))
                {
                    for (var c = 0; c < caches.Count; c++)
                    {
                        if (seen[c] is null && caches[c].IsEntitled(agent, Product) == entitled)
                        {
                            seen[c] = clock.Elapsed;
                        }
                    }

                    await Task.Delay(2);
                }

                Assert.All(seen, s => Assert.NotNull(s));
                latencies.AddRange(seen.Select(s => s!.Value));
            }

            latencies.Sort();
            var p99 = latencies[(int)Math.Ceiling(latencies.Count * 0.99) - 1];
            Assert.True(p99 < TimeSpan.FromSeconds(1), $"p99 {p99.TotalMilliseconds:F0} ms, max {latencies[^1].TotalMilliseconds:F0} ms");
            Assert.All(caches, cache => Assert.Equal(0, cache.Refused));

            // The stream carried the same versions to every replica's cache.
            Assert.Single(caches.Select(c => c.Version).Distinct());

            // The identity provider deletes the agent (SCIM): every cache forgets them.
            var secret = (await A.AdminClient.CreateProvisioningTokenAsync(new CreateProvisioningTokenRequest { Name = "idp" }, A.AdminHeaders(account))).Secret;
            string scimId;
            await using (var connection = new Npgsql.NpgsqlConnection(Database.ConnectionString))
            {
                await connection.OpenAsync();
                await using var query = new Npgsql.NpgsqlCommand("SELECT scim_id FROM agents WHERE account_id = @account AND id = @agent", connection);
                query.Parameters.AddWithValue("account", account);
                query.Parameters.AddWithValue("agent", agent);
                scimId = (string)(await query.ExecuteScalarAsync())!;
            }

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_restPort}") };
            using var delete = new HttpRequestMessage(HttpMethod.Delete, "/scim/v2/Users/" + scimId);
            delete.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", secret);
            var deleted = Stopwatch.StartNew();
            Assert.Equal(System.Net.HttpStatusCode.NoContent, (await http.SendAsync(delete)).StatusCode);
            foreach (var cache in caches)
            {
                await Eventually.Until(
                    async () => { await Task.Yield(); return cache.Check(agent, Product).Status == EntitlementStatus.UnknownAgent ? "gone" : null; },
                    TimeSpan.FromSeconds(5),
                    "the SCIM deletion to reach the cache");
            }

            // Pushed, not refreshed (a minute apart): 5 s tells the two apart without timing a loaded machine.
            Assert.True(deleted.Elapsed < TimeSpan.FromSeconds(5), $"took {deleted.Elapsed}");
        }
        finally
        {
            foreach (var cache in caches)
            {
                await cache.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Flipped_bytes_unknown_keys_replays_and_other_accounts_are_refused_and_the_state_held_stays()
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync();
        var other = await seeder.AccountAsync();
        var agent = (await seeder.AgentsAsync(account, 1, "NAMED"))[0];
        await using var cache = NewCache(A, account);
        await cache.StartAsync();
        await FollowingAsync(cache);
        var old = await A.EntitlementClient.GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = account }, A.ServiceHeaders());

        await A.AdminClient.UnassignSeatAsync(new UnassignSeatRequest { AgentId = agent, Product = Product }, A.AdminHeaders(account));
        await Eventually.Until(async () => { await Task.Yield(); return cache.IsEntitled(agent, Product) ? null : "seen"; }, TimeSpan.FromSeconds(5), "the unassignment");
        var version = cache.Version;
        var current = await A.EntitlementClient.GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = account }, A.ServiceHeaders());

        // Every byte of the document, flipped one at a time (a sample across it), and the signature.
        var bytes = current.Document.ToByteArray();
        for (var i = 0; i < bytes.Length; i += Math.Max(1, bytes.Length / 40))
        {
            var flipped = (byte[])bytes.Clone();
            flipped[i] ^= 0x01;
            Assert.Equal(DocumentOutcome.BadSignature, await cache.ApplyAsync(new SignedEntitlements { Document = ByteString.CopyFrom(flipped), Kid = current.Kid, Signature = current.Signature }));
        }

        var signature = current.Signature.ToByteArray();
        signature[10] ^= 0x80;
        Assert.Equal(DocumentOutcome.BadSignature, await cache.ApplyAsync(new SignedEntitlements { Document = current.Document, Kid = current.Kid, Signature = ByteString.CopyFrom(signature) }));

        // Signed by a key the broker never published.
        var forger = NSec.Cryptography.Key.Create(NSec.Cryptography.SignatureAlgorithm.Ed25519);
        var forged = EntitlementDocument.Parser.ParseFrom(current.Document);
        forged.Agents.Clear();
        var forgedBytes = forged.ToByteArray();
        Assert.Equal(DocumentOutcome.BadSignature, await cache.ApplyAsync(new SignedEntitlements
        {
            Document = ByteString.CopyFrom(forgedBytes),
            Kid = "ed25519-forged",
            Signature = ByteString.CopyFrom(NSec.Cryptography.SignatureAlgorithm.Ed25519.Sign(forger, forgedBytes)),
        }));

        // A genuine snapshot of an older version (the seat still given), replayed.
        Assert.Equal(DocumentOutcome.Outdated, await cache.ApplyAsync(old));

        // A genuine snapshot of another account.
        var foreign = await A.EntitlementClient.GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = other }, A.ServiceHeaders());
        Assert.Equal(DocumentOutcome.OtherAccount, await cache.ApplyAsync(foreign));

        // A genuine change (the unassignment above, as the stream sent it), altered, and replayed once applied.
        var oldVersion = EntitlementDocument.Parser.ParseFrom(old.Document).Version;
        var change = await FirstAsync(A, new WatchEntitlementsRequest { AccountId = account, SinceVersion = oldVersion }, A.ServiceHeaders());
        var changeDocument = EntitlementDocument.Parser.ParseFrom(change.Document);
        Assert.Equal((EntitlementDocumentKind.Changes, oldVersion, version), (changeDocument.Kind, changeDocument.FromVersion, changeDocument.Version));
        var changeBytes = change.Document.ToByteArray();
        changeBytes[changeBytes.Length / 2] ^= 0x04;
        Assert.Equal(DocumentOutcome.BadSignature, await cache.ApplyAsync(new SignedEntitlements { Document = ByteString.CopyFrom(changeBytes), Kid = change.Kid, Signature = change.Signature }));
        Assert.Equal(DocumentOutcome.Outdated, await cache.ApplyAsync(change));

        Assert.Equal(version, cache.Version);
        Assert.False(cache.IsEntitled(agent, Product));
        Assert.True(cache.Refused >= 7);

        // The genuine current snapshot is still accepted.
        Assert.Equal(DocumentOutcome.Applied, await cache.ApplyAsync(current));
    }

    [Fact]
    public async Task With_every_replica_stopped_caches_answer_until_not_after_then_fail_closed_and_resync_when_they_return()
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync();
        var agent = (await seeder.AgentsAsync(account, 1, "NAMED"))[0];
        var closed = NewCache(A, account);
        var flagged = NewCache(_replicas[1], account, StalePolicy.LastKnownFlagged);
        try
        {
            await closed.StartAsync();
            await flagged.StartAsync();
            Assert.True(closed.IsEntitled(agent, Product));
            var tokenKey = A.SigningKey;

            // Every replica stops (together: stopping takes seconds on a busy machine, which must not decide
            // the test). Until not_after, the last state answers: sampled all along, from the first moment.
            var stopping = Task.WhenAll(_replicas.Select(r => r.DisposeAsync().AsTask()));
            var sampled = 0;
            while (!closed.IsStale)
            {
                Assert.True(closed.IsEntitled(agent, Product));
                sampled++;
                await Task.Delay(20);
            }

            Assert.True(sampled > 0, "the copy was already stale when the replicas began to stop");
            await stopping;
            _replicas.Clear();

            // Nothing was heard after the stop: not_after stays where the last keep-alive put it.
            var notAfter = closed.NotAfter;
            await Eventually.Until(async () => { await Task.Yield(); return closed.IsStale ? "stale" : null; }, TimeSpan.FromSeconds(10), "the copy to go stale");
            Assert.Equal(notAfter, closed.NotAfter);
            Assert.Equal(new EntitlementAnswer(EntitlementStatus.Unspecified, IsStale: true), closed.Check(agent, Product));
            Assert.False(closed.IsEntitled(agent, Product));
            await Eventually.Until(async () => { await Task.Yield(); return flagged.IsStale ? "stale" : null; }, TimeSpan.FromSeconds(10), "the flagged copy to go stale");
            Assert.Equal(new EntitlementAnswer(EntitlementStatus.Entitled, IsStale: true), flagged.Check(agent, Product));

            // The replicas return on their addresses; a change made meanwhile reaches the caches.
            await using (var connection = new Npgsql.NpgsqlConnection(Database.ConnectionString))
            {
                await connection.OpenAsync();
                await using var delete = new Npgsql.NpgsqlCommand("DELETE FROM seat_assignments WHERE account_id = @account", connection);
                delete.Parameters.AddWithValue("account", account);
                await delete.ExecuteNonQueryAsync();
            }
            foreach (var port in _ports)
            {
                var settings = new Dictionary<string, string?>(Settings) { ["Kestrel:Endpoints:Grpc:Url"] = $"http://127.0.0.1:{port}" };
                _replicas.Add(await BrokerTestHost.StartAsync(Database, settings, keyPrefix: _prefix, signingKey: tokenKey));
            }

            foreach (var cache in new[] { closed, flagged })
            {
                await Eventually.Until(
                    async () => { await Task.Yield(); return !cache.IsStale && cache.Check(agent, Product).Status == EntitlementStatus.NoSeatAssigned ? "resynced" : null; },
                    TimeSpan.FromSeconds(20),
                    "the cache to resync");
            }
        }
        finally
        {
            await closed.DisposeAsync();
            await flagged.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_key_rotation_refuses_nothing_during_the_overlap_and_the_old_key_after_it()
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync();
        var agents = await seeder.AgentsAsync(account, 2, "NAMED");
        await using var cache = NewCache(_replicas[2], account);
        await cache.StartAsync();
        var before = await A.EntitlementClient.GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = account }, A.ServiceHeaders());

        var rotated = await A.EntitlementClient.RotateEntitlementKeyAsync(new RotateEntitlementKeyRequest(), A.ServiceHeaders());
        Assert.NotEqual(before.Kid, rotated.Kid);

        // During the overlap both keys are published, and a change signed with the new key is applied.
        var keys = await A.EntitlementClient.ListEntitlementKeysAsync(new ListEntitlementKeysRequest());
        Assert.Equal([rotated.Kid, before.Kid], keys.Keys.Select(k => k.Kid));
        Assert.Equal(0, keys.Keys[0].ExpiresUnixMs);
        Assert.True(keys.Keys[1].ExpiresUnixMs > 0);
        await A.AdminClient.UnassignSeatAsync(new UnassignSeatRequest { AgentId = agents[0], Product = Product }, A.AdminHeaders(account));
        await Eventually.Until(async () => { await Task.Yield(); return cache.IsEntitled(agents[0], Product) ? null : "seen"; }, TimeSpan.FromSeconds(5), "the change signed with the new key");
        var after = await _replicas[1].EntitlementClient.GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = account }, A.ServiceHeaders());
        Assert.Equal(rotated.Kid, after.Kid);
        Assert.Equal(0, cache.Refused);
        Assert.True(cache.IsEntitled(agents[1], Product));

        // After the overlap (retired + snapshot lifetime) the old key is gone from the set and refused.
        await Eventually.Until(
            async () => (await A.EntitlementClient.ListEntitlementKeysAsync(new ListEntitlementKeysRequest())).Keys.Count == 1 ? "gone" : null,
            TimeSpan.FromSeconds(15),
            "the old key to leave the published set");
        await Eventually.Until(async () => await cache.ApplyAsync(before) == DocumentOutcome.BadSignature ? "refused" : null, TimeSpan.FromSeconds(5), "the old key to be refused");
        Assert.True(cache.IsEntitled(agents[1], Product));
        Assert.False(cache.IsEntitled(agents[0], Product));

        // Only a platform token may rotate.
        var scoped = await Assert.ThrowsAsync<RpcException>(async () => await A.EntitlementClient.RotateEntitlementKeyAsync(new RotateEntitlementKeyRequest(), ScopedService(A, account)));
        Assert.Equal(StatusCode.PermissionDenied, scoped.StatusCode);
    }

    [Fact]
    public async Task Bad_input_is_named_and_tenants_stay_apart()
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync();
        var other = await seeder.AccountAsync();
        await seeder.AgentsAsync(account, 1, "NAMED");

        var unknown = await Assert.ThrowsAsync<RpcException>(async () =>
            await A.EntitlementClient.GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = "acct-nobody" }, A.ServiceHeaders()));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        var unknownWatch = await Assert.ThrowsAsync<RpcException>(() => FirstAsync(A, new WatchEntitlementsRequest { AccountId = "acct-nobody" }, A.ServiceHeaders()));
        Assert.Equal(StatusCode.NotFound, unknownWatch.StatusCode);

        // A service token scoped to one account reads it, and nothing else.
        var scoped = ScopedService(A, account);
        await A.EntitlementClient.GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = account }, scoped);
        foreach (var call in new Func<Task>[]
        {
            async () => await A.EntitlementClient.GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = other }, scoped),
            () => FirstAsync(A, new WatchEntitlementsRequest { AccountId = other }, scoped),
            async () => await A.EntitlementClient.CheckEntitlementAsync(new CheckEntitlementRequest { AccountId = other, AgentId = "agent-001", Product = Product }, scoped),
            async () => await A.EntitlementClient.GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = "acct-nobody" }, scoped),
        })
        {
            var denied = await Assert.ThrowsAsync<RpcException>(call);
            Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
            Assert.Equal("ACCOUNT_NOT_IN_TOKEN_SCOPE", Errors.Info(denied).Reason);
        }

        // A version from the future, a negative one, a malformed account id.
        var snapshot = EntitlementDocument.Parser.ParseFrom((await A.EntitlementClient.GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = account }, A.ServiceHeaders())).Document);
        foreach (var (request, field) in new[]
        {
            (new WatchEntitlementsRequest { AccountId = account, SinceVersion = snapshot.Version + 1 }, "since_version"),
            (new WatchEntitlementsRequest { AccountId = account, SinceVersion = -1 }, "since_version"),
            (new WatchEntitlementsRequest { AccountId = "bad account\n", SinceVersion = 0 }, "account_id"),
        })
        {
            var invalid = await Assert.ThrowsAsync<RpcException>(() => FirstAsync(A, request, A.ServiceHeaders()));
            Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
            Assert.Contains(field, Errors.BadRequest(invalid).FieldViolations.Select(v => v.Field));
        }

        // Up to date: the stream starts with a keep-alive at the caller's version; from 0, with a snapshot.
        var keepAlive = EntitlementDocument.Parser.ParseFrom((await FirstAsync(A, new WatchEntitlementsRequest { AccountId = account, SinceVersion = snapshot.Version }, A.ServiceHeaders())).Document);
        Assert.Equal((EntitlementDocumentKind.Changes, snapshot.Version, snapshot.Version), (keepAlive.Kind, keepAlive.FromVersion, keepAlive.Version));
        var fromZero = EntitlementDocument.Parser.ParseFrom((await FirstAsync(A, new WatchEntitlementsRequest { AccountId = account }, A.ServiceHeaders())).Document);
        Assert.Equal(EntitlementDocumentKind.Snapshot, fromZero.Kind);
    }

    [Fact]
    public async Task A_bulk_change_raises_each_accounts_version_once()
    {
        // 3,000 accounts subscribed in one statement, then 10,000 agents of one of them in another: 0014's
        // per-account setting names took PostgreSQL past the 30 s command timeout on 2,000.
        var prefix = "bulk" + Guid.NewGuid().ToString("N")[..6];
        await using var connection = new Npgsql.NpgsqlConnection(Database.ConnectionString);
        await connection.OpenAsync();
        async Task<long> Scalar(string sql)
        {
            // One transaction per call.
            await using var transaction = await connection.BeginTransactionAsync();
            await using var command = new Npgsql.NpgsqlCommand(sql, connection, transaction);
            command.Parameters.AddWithValue("prefix", prefix + "%");
            var value = Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
            await transaction.CommitAsync();
            return value;
        }

        await Scalar($"INSERT INTO accounts (id, name) SELECT '{prefix}-' || i, 'bulk' FROM generate_series(1, 3000) AS i; SELECT 0");
        await Scalar($"""
            INSERT INTO subscriptions (account_id, product_code, plan, valid_until, named_seat_limit, concurrent_seat_limit)
            SELECT '{prefix}-' || i, 'remote-support', 'PAID', now() + interval '1 day', 0, 5 FROM generate_series(1, 3000) AS i;
            SELECT 0
            """);
        Assert.Equal(3000, await Scalar("SELECT count(*) FROM accounts WHERE id LIKE @prefix AND entitlement_version = 1"));

        await Scalar($"""
            INSERT INTO agents (account_id, id, email, display_name) SELECT '{prefix}-1', 'a' || i, 'a' || i || '@bulk.example', 'A' FROM generate_series(1, 10000) AS i;
            INSERT INTO seat_assignments (account_id, agent_id, product_code, seat_type) SELECT '{prefix}-1', 'a' || i, 'remote-support', 'CONCURRENT' FROM generate_series(1, 10000) AS i;
            SELECT 0
            """);
        Assert.Equal(2, await Scalar($"SELECT entitlement_version FROM accounts WHERE id = '{prefix}-1'"));
        var snapshot = EntitlementDocument.Parser.ParseFrom((await A.EntitlementClient.GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = prefix + "-1" }, A.ServiceHeaders())).Document);
        Assert.Equal((2L, 10_000), (snapshot.Version, snapshot.Agents.Count));
    }

    [Fact]
    public async Task The_jwks_publishes_the_same_keys_for_libraries_in_other_languages()
    {
        await A.EntitlementClient.RotateEntitlementKeyAsync(new RotateEntitlementKeyRequest(), A.ServiceHeaders());
        var keys = (await A.EntitlementClient.ListEntitlementKeysAsync(new ListEntitlementKeysRequest())).Keys;

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_restPort}") };
        var jwks = System.Text.Json.Nodes.JsonNode.Parse(await http.GetStringAsync("/.well-known/licensebroker-entitlement-keys.json"))!["keys"]!.AsArray();
        Assert.Equal(keys.Select(k => k.Kid), jwks.Select(k => k!["kid"]!.GetValue<string>()));
        foreach (var (key, jwk) in keys.Zip(jwks))
        {
            Assert.Equal(("OKP", "Ed25519", "EdDSA", "sig"), (jwk!["kty"]!.GetValue<string>(), jwk["crv"]!.GetValue<string>(), jwk["alg"]!.GetValue<string>(), jwk["use"]!.GetValue<string>()));
            Assert.Equal(key.PublicKey.ToByteArray(), Microsoft.IdentityModel.Tokens.Base64UrlEncoder.DecodeBytes(jwk["x"]!.GetValue<string>()));
            Assert.Equal(key.ExpiresUnixMs == 0, jwk["exp"] is null);
        }
    }

    /// <summary>
    /// Waits until the cache's stream is in place: a keep-alive through it has moved not_after. (StartAsync returns
    /// after the snapshot; the stream follows in the background. A replica that starts watching an account after a
    /// change sends a snapshot, not that change: a test that needs the change itself waits for this first.)
    /// </summary>
    private static async Task FollowingAsync(EntitlementCache cache)
    {
        var fromSnapshot = cache.NotAfter;
        await Eventually.Until(async () => { await Task.Yield(); return cache.NotAfter > fromSnapshot ? "following" : null; }, TimeSpan.FromSeconds(10), "the cache's stream");
    }

    private static async Task<SignedEntitlements> FirstAsync(BrokerTestHost host, WatchEntitlementsRequest request, Metadata headers)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var call = host.EntitlementClient.WatchEntitlements(request, headers, cancellationToken: timeout.Token);
        Assert.True(await call.ResponseStream.MoveNext(timeout.Token));
        return call.ResponseStream.Current;
    }

    private static Metadata ScopedService(BrokerTestHost host, string account) =>
        BrokerTestHost.Bearer(DevTokens.Mint(
            host.SigningKey, "backoffice", "billing", TimeSpan.FromHours(1),
            extraClaims: new Dictionary<string, object>(DevTokens.Claims(service: true)) { ["accounts"] = account }));

    private static EntitlementCache NewCache(BrokerTestHost host, string account, StalePolicy whenStale = StalePolicy.FailClosed)
    {
        var token = DevTokens.Mint(host.SigningKey, "backoffice", "routing", TimeSpan.FromHours(1), extraClaims: DevTokens.Claims(service: true));
        return new EntitlementCache(new EntitlementCacheOptions
        {
            Address = host.Address,
            AccountId = account,
            AccessTokenProvider = _ => ValueTask.FromResult(token),
            WhenStale = whenStale,
            FirstRetryDelay = TimeSpan.FromMilliseconds(100),
            MaxRetryDelay = TimeSpan.FromMilliseconds(500),
        });
    }
}
