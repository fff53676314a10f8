// Package browser drives a real headless Chromium, with JavaScript disabled,
// for the end-to-end tests of sandyq's source interface. Sources use that
// interface in Tor Browser at the "Safest" level, where no script runs; these
// tests see the pages as they do, and fill and submit the forms with the
// mouse and the keyboard, so a page that needs JavaScript fails its test.
//
// It is test support: every entry point takes a [testing.TB].
//
// # Use
//
//	b := browser.Start(t, browser.Options{SocksProxy: torSocks, Timeout: 2 * time.Minute})
//	if err := b.Navigate("http://" + onion + "/new"); err != nil {
//		t.Fatal(err)
//	}
//	b.SetValue("textarea[name=message]", "hello")
//	b.SetFiles("input[name=files]", "/tmp/a.pdf", "/tmp/b.jpg")
//	b.SetChecked("#consent", true)
//	if err := b.Submit("button[type=submit]"); err != nil { // waits for the next page
//		t.Fatal(err)
//	}
//	text, _ := b.Text()
//	b.Screenshot(filepath.Join(t.ArtifactDir(), "after-submit.png"))
//
// [Start] skips the test, or fails it in CI (the CI environment variable is
// true), when no Chromium is installed; see [Require]. The browser is closed,
// and all its processes are gone, when the test ends.
//
// Selectors are CSS selectors; an operation uses the first element that
// matches. Each operation is bounded by [Options.Timeout]. [Browser.Submit]
// covers the whole form submission: the upload of the body, the server's
// answer and the load of the answer page, so the timeout must allow for the
// largest upload at the speed of the network under test.
//
// # JavaScript is off three times
//
// Page scripts are disabled by the blink setting scriptEnabled=false on the
// command line, by the JavaScript content setting "blocked" in the profile
// (what the switch in Chromium's settings writes), and by
// Emulation.setScriptExecutionDisabled on the tab. Each one alone stops
// inline scripts, external scripts (which are then not even fetched), event
// handler attributes and scripts in frames; the tests check the result with
// a page whose every kind of script would change the page or fetch a URL.
// <noscript> content is shown, as in Tor Browser.
//
// The DevTools protocol itself still evaluates expressions
// (Runtime.evaluate works with all three switches on, and does not turn page
// scripts on). This package uses it only to read [Browser.Text] (innerText,
// the rendered text). Everything that acts on the page goes through the DOM
// and Input domains, as a person would act: [Browser.SetValue] focuses the
// field, selects its content and types over it (Input.insertText), so the
// browser applies maxlength and the rules of line breaks; [Browser.Click]
// moves the mouse to the middle of the element and clicks, after checking
// that nothing covers it; [Browser.SetFiles] is the file chooser
// (DOM.setFileInputFiles); values and check states are read back from a DOM
// snapshot.
//
// # Network
//
// Chromium reaches only 127.0.0.1 and, with [Options.SocksProxy], the .onion
// names through the proxy. The host resolver rules
// "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1" make every other name and every
// other IP address fail before a connection; background services (sync,
// component updates, safe browsing, metrics, QUIC, HTTPS upgrades) are off.
// With a proxy, a proxy auto-config script sends the .onion names, and only
// them, to it as SOCKS5 with the name (remote DNS, as tor needs), because
// Chromium still makes a few requests to Google names of its own that a
// plain --proxy-server would hand to the proxy. Loopback addresses are always
// reached directly. The browser talks to the test over a pipe
// (--remote-debugging-pipe): it opens no debugging port.
//
// The profile, and the home directory that Chromium writes crash databases
// and caches into, are in a directory of t.TempDir().
package browser
