// The console's only script: it reports the browser's time zone (an IANA id) in a cookie, so that pages show times in
// it until the admin chooses one on the time zone page (AdminTimeZone). Without it, times are in UTC until chosen.
(function () {
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && document.cookie.indexOf('lb_browser_zone=' + encodeURIComponent(zone)) < 0) {
    document.cookie = 'lb_browser_zone=' + encodeURIComponent(zone) + '; path=/; max-age=31536000; samesite=lax';
  }
})();
