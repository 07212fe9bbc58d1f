# Multi-stage build of the broker. Not buildable on the development machine (no Docker engine there);
# kept minimal so it can be checked by reading.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props .editorconfig ./
COPY protos/ protos/
COPY src/ src/
# ReadyToRun: compiled ahead of time, so a new replica's first minute (a login storm after a deploy)
# is not spent in the JIT (BENCHMARKS.md, cold start).
RUN dotnet publish src/LicenseBroker.Server/LicenseBroker.Server.csproj -c Release -r linux-x64 --self-contained false \
    -p:PublishReadyToRun=true -o /app --nologo

# Chiseled: no shell, no package manager, non-root by default; a small attack surface.
FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble-chiseled AS runtime
WORKDIR /app
COPY --from=build /app ./
# The aspnet images ship a non-root user "app"; APP_UID is its uid.
USER $APP_UID
EXPOSE 5081 9464
# Listen on all interfaces inside the container; TLS and keys come from the environment (see README).
ENV Kestrel__Endpoints__Grpc__Url=http://0.0.0.0:5080 \
    Rest__Address=0.0.0.0 \
    Metrics__Address=0.0.0.0 \
    DOTNET_gcServer=1
EXPOSE 5080
ENTRYPOINT ["dotnet", "LicenseBroker.Server.dll"]
