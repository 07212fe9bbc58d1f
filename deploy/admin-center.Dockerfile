# The Admin Center's image (build from the repository root: docker build -f deploy/admin-center.Dockerfile .).
# Not buildable on the development machine (no Docker engine there); kept minimal so it can be checked by reading.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props .editorconfig ./
COPY protos/ protos/
COPY src/ src/
RUN dotnet publish src/LicenseBroker.AdminCenter/LicenseBroker.AdminCenter.csproj -c Release -o /app --nologo

# "extra": the chiseled image with ICU, which the console needs to format dates and numbers per culture.
FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble-chiseled-extra AS runtime
WORKDIR /app
COPY --from=build /app ./
USER $APP_UID
# The development sign-in is off unless AdminCenter__DevSignIn__Enabled is set, and refused on this address anyway.
ENV ASPNETCORE_URLS=http://0.0.0.0:5090
EXPOSE 5090
ENTRYPOINT ["dotnet", "LicenseBroker.AdminCenter.dll"]
