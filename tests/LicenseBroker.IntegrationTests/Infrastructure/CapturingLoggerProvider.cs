using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>Keeps every log line of a host (message, then the exception with its stack) for a test to read.</summary>
internal sealed class CapturingLoggerProvider(ConcurrentQueue<string> logs) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Capturing(logs);

    public void Dispose()
    {
    }

    private sealed class Capturing(ConcurrentQueue<string> logs) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            logs.Enqueue(formatter(state, exception) + (exception is null ? string.Empty : "\n" + exception));
    }
}
