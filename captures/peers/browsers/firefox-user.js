// Preferences for the throw-away Firefox ESR profiles of captures/make-browsers.sh (a copy of
// peers/tls/firefox-user.js): no first-run pages, no update, telemetry or connectivity checks.
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.aboutwelcome.enabled", false);
user_pref("app.update.enabled", false);
user_pref("app.normandy.enabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("browser.safebrowsing.update.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.http.speculative-parallel-limit", 0);
// captures/make-browsers.sh (close-tab): let the page open a second tab without a click, and
// let it close that tab again
user_pref("dom.disable_open_during_load", false);
user_pref("dom.allow_scripts_to_close_windows", true);
user_pref("browser.link.open_newwindow", 3);
