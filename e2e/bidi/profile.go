//go:build linux

package bidi

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultPrefs returns the preferences every profile gets: fake camera and
// microphone without a permission prompt, and nothing that would make
// Firefox connect anywhere by itself. Firefox also applies its own
// recommended automation preferences when the remote agent starts; these
// are in user.js so that they hold from the first instant.
func DefaultPrefs() map[string]any {
	return map[string]any{
		// Media: fake devices, granted without a prompt.
		"media.navigator.streams.fake":        true,
		"media.navigator.permission.disabled": true,

		// First run, welcome and what's-new pages, default-browser check.
		"browser.shell.checkDefaultBrowser":                           false,
		"browser.startup.homepage_override.mstone":                    "ignore",
		"browser.startup.page":                                        0,
		"browser.startup.homepage":                                    "about:blank",
		"startup.homepage_welcome_url":                                "about:blank",
		"startup.homepage_welcome_url.additional":                     "",
		"browser.aboutwelcome.enabled":                                false,
		"browser.newtabpage.enabled":                                  false,
		"browser.newtab.preload":                                      false,
		"browser.sessionstore.resume_from_crash":                      false,
		"browser.tabs.warnOnClose":                                    false,
		"browser.warnOnQuit":                                          false,
		"toolkit.telemetry.reportingpolicy.firstRun":                  false,
		"datareporting.policy.dataSubmissionPolicyBypassNotification": true,
		"termsofuse.bypassNotification":                               true,

		// Application, add-on, search engine and plugin updates.
		"app.update.disabledForTesting":                      true,
		"app.update.auto":                                    false,
		"extensions.update.enabled":                          false,
		"extensions.update.autoUpdateDefault":                false,
		"extensions.systemAddon.update.enabled":              false,
		"extensions.getAddons.cache.enabled":                 false,
		"extensions.blocklist.enabled":                       false,
		"extensions.pocket.enabled":                          false,
		"extensions.htmlaboutaddons.recommendations.enabled": false,
		"browser.search.update":                              false,
		"media.gmp-manager.updateEnabled":                    false,
		"media.gmp-manager.url":                              "",
		"media.gmp-gmpopenh264.autoupdate":                   false,
		"media.gmp-widevinecdm.enabled":                      false,
		"media.gmp-widevinecdm.autoupdate":                   false,

		// Telemetry, health report, data submission, studies, crash reports.
		"toolkit.telemetry.enabled":                          false,
		"toolkit.telemetry.unified":                          false,
		"toolkit.telemetry.archive.enabled":                  false,
		"toolkit.telemetry.server":                           "",
		"toolkit.telemetry.coverage.opt-out":                 true,
		"toolkit.coverage.opt-out":                           true,
		"toolkit.coverage.endpoint.base":                     "",
		"datareporting.healthreport.uploadEnabled":           false,
		"datareporting.healthreport.service.enabled":         false,
		"datareporting.policy.dataSubmissionEnabled":         false,
		"datareporting.usage.uploadEnabled":                  false,
		"app.shield.optoutstudies.enabled":                   false,
		"app.normandy.enabled":                               false,
		"app.normandy.api_url":                               "",
		"messaging-system.rsexperimentloader.enabled":        false,
		"browser.discovery.enabled":                          false,
		"browser.ping-centre.telemetry":                      false,
		"browser.newtabpage.activity-stream.feeds.telemetry": false,
		"browser.newtabpage.activity-stream.telemetry":       false,
		"browser.crashReports.unsubmittedCheck.autoSubmit2":  false,
		"breakpad.reportURL":                                 "",
		"browser.tabs.crashReporting.sendReport":             false,

		// Safe browsing and tracking-protection list downloads.
		"browser.safebrowsing.malware.enabled":            false,
		"browser.safebrowsing.phishing.enabled":           false,
		"browser.safebrowsing.blockedURIs.enabled":        false,
		"browser.safebrowsing.downloads.enabled":          false,
		"browser.safebrowsing.downloads.remote.enabled":   false,
		"browser.safebrowsing.provider.google.updateURL":  "",
		"browser.safebrowsing.provider.google4.updateURL": "",
		"browser.safebrowsing.provider.mozilla.updateURL": "",
		"privacy.trackingprotection.enabled":              false,

		// Captive portal detection, network connectivity checks, DNS over
		// HTTPS, prefetching and speculative connections.
		"network.captive-portal-service.enabled":    false,
		"captivedetect.canonicalURL":                "",
		"network.connectivity-service.enabled":      false,
		"network.trr.mode":                          5, // DNS over HTTPS off, by choice
		"network.dns.disablePrefetch":               true,
		"network.prefetch-next":                     false,
		"network.predictor.enabled":                 false,
		"network.http.speculative-parallel-limit":   0,
		"browser.urlbar.speculativeConnect.enabled": false,
		"browser.places.speculativeConnect.enabled": false,
		"network.sntp.pools":                        "",

		// Remote settings, certificate revocation and intermediate lists,
		// OCSP, region and location lookups, push, accounts, suggestions,
		// sponsored tiles, translations and machine-learning models.
		"services.settings.server":                        "data:,#remote-settings-dummy/v1",
		"security.remote_settings.crlite_filters.enabled": false,
		"security.remote_settings.intermediates.enabled":  false,
		"security.certerrors.mitm.priming.enabled":        false,
		"security.OCSP.enabled":                           0,
		"browser.region.network.url":                      "",
		"browser.region.update.enabled":                   false,
		"geo.provider.network.url":                        "",
		"dom.push.connection.enabled":                     false,
		"dom.push.serverURL":                              "",
		"identity.fxaccounts.enabled":                     false,
		"browser.search.suggest.enabled":                  false,
		"browser.urlbar.suggest.searches":                 false,
		"browser.topsites.contile.enabled":                false,
		"browser.translations.enable":                     false,
		"browser.ml.enable":                               false,
	}
}

// writeUserJS writes user.js into the profile dir with prefs, sorted by
// name. A value must be a bool, an int or a string: the types a Firefox
// preference can have.
func writeUserJS(dir string, prefs map[string]any) error {
	var b strings.Builder
	b.WriteString("// Written by tandem/e2e/bidi for one run of Firefox.\n")
	for _, name := range slices.Sorted(maps.Keys(prefs)) {
		var value string
		switch v := prefs[name].(type) {
		case bool, int, int32, int64, string:
			j, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("bidi: pref %s: %w", name, err)
			}
			value = string(j)
		default:
			return fmt.Errorf("bidi: pref %s: a %T; a pref is a bool, an int or a string", name, v)
		}
		name, _ := json.Marshal(name)
		fmt.Fprintf(&b, "user_pref(%s, %s);\n", name, value)
	}
	if err := os.WriteFile(filepath.Join(dir, "user.js"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("bidi: profile: %w", err)
	}
	return nil
}
