// Preferences added for captures/make-browsers.sh to those of peers/tls/firefox-user.js (the
// script writes both into each throw-away profile's user.js).
// captures/make-browsers.sh (close-tab): let the page open a second tab without a click, and
// let it close that tab again
user_pref("dom.disable_open_during_load", false);
user_pref("dom.allow_scripts_to_close_windows", true);
user_pref("browser.link.open_newwindow", 3);
