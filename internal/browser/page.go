package browser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"math"
	"net/http"
	"os"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// do runs f against the tab, bounded by the timeout of b. what names the
// operation in the error.
func (b *Browser) do(what string, f func(ctx context.Context, t *chromedp.Target) error) error {
	if b.closed {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Func(f)); err != nil {
		return fmt.Errorf("browser: %s: %w", what, err)
	}
	return nil
}

// load runs the steps, which start a navigation of the tab, and waits until
// the new page has loaded (its load event), bounded by the timeout of b. It
// records the HTTP status of the new document.
func (b *Browser) load(what string, steps ...chromedp.Action[chromedp.Void]) error {
	if b.closed {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	b.status = 0
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("browser: %s: no page loaded within %v: %w", what, b.timeout, err)
		}
		return fmt.Errorf("browser: %s: %w", what, err)
	}
	if resp != nil {
		b.status = int(resp.Status)
	}
	return nil
}

// Navigate loads url in the tab, as if typed in the address bar, and waits
// until the page has loaded. An HTTP error status is not an error (see
// [Browser.Status]); a page that cannot be loaded at all is, and the error
// then wraps a *chromedp.LoadError that holds Chromium's net::ERR_… text.
func (b *Browser) Navigate(url string) error {
	return b.load("navigating", chromedp.Navigate(url))
}

// Status returns the HTTP status code of the document that the last
// [Browser.Navigate] or [Browser.Submit] loaded, or 0 if it loaded none (such
// as a navigation within the page).
func (b *Browser) Status() int { return b.status }

// currentEntry returns the entry of the tab's history that is shown.
func (b *Browser) currentEntry() (*page.NavigationEntry, error) {
	var entry *page.NavigationEntry
	err := b.do("reading history", func(ctx context.Context, t *chromedp.Target) error {
		h, err := cdp.Call(ctx, t, page.GetNavigationHistory, cdp.Empty{})
		if err != nil {
			return err
		}
		if h.CurrentIndex < 0 || int(h.CurrentIndex) >= len(h.Entries) {
			return errors.New("no current history entry")
		}
		entry = h.Entries[h.CurrentIndex]
		return nil
	})
	return entry, err
}

// Title returns the title of the page, as the browser shows it in the tab.
func (b *Browser) Title() (string, error) {
	e, err := b.currentEntry()
	if err != nil {
		return "", err
	}
	return e.Title, nil
}

// URL returns the address of the page shown in the tab.
func (b *Browser) URL() (string, error) {
	e, err := b.currentEntry()
	if err != nil {
		return "", err
	}
	return e.URL, nil
}

// Text returns the text of the page's body as a person sees it: the
// rendered text (HTMLElement.innerText), without hidden elements, with line
// breaks between blocks. It is read through the DevTools Runtime domain,
// which works while the page's own scripts are disabled and does not enable
// them.
func (b *Browser) Text() (string, error) {
	var text string
	err := b.do("reading text", func(ctx context.Context, t *chromedp.Target) error {
		byValue := true
		res, err := cdp.Call(ctx, t, runtime.Evaluate, runtime.EvaluateParams{
			Expression:    `document.body ? document.body.innerText : ""`,
			ReturnByValue: &byValue,
		})
		if err != nil {
			return err
		}
		if res.ExceptionDetails != nil {
			return fmt.Errorf("evaluating innerText: %s", res.ExceptionDetails.Text)
		}
		if res.Result == nil || res.Result.Type != runtime.RemoteObjectTypeString {
			return errors.New("innerText is not a string")
		}
		return unmarshalJSONString(res.Result.Value, &text)
	})
	return text, err
}

// HTML returns the serialization of the current document (its outer HTML,
// without the doctype), as the DOM holds it now.
func (b *Browser) HTML() (string, error) {
	var html string
	err := b.do("reading HTML", func(ctx context.Context, t *chromedp.Target) error {
		root, err := documentRoot(ctx, t)
		if err != nil {
			return err
		}
		// The <html> element, found by its backend ID, which, unlike a
		// NodeID, outlives another client's DOM.getDocument.
		var elem cdp.BackendNodeID
		for _, c := range root.Children {
			if c.NodeType == nodeElement {
				elem = c.BackendNodeID
			}
		}
		if elem == 0 {
			return errors.New("document has no root element")
		}
		res, err := cdp.Call(ctx, t, dom.GetOuterHTML, dom.GetOuterHTMLParams{BackendNodeID: elem})
		if err != nil {
			return err
		}
		html = res.OuterHTML
		return nil
	})
	return html, err
}

// Cookies returns the cookies that the browser would send with a request for
// the page shown in the tab.
func (b *Browser) Cookies() ([]*http.Cookie, error) {
	var cookies []*http.Cookie
	err := b.do("reading cookies", func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{})
		if err != nil {
			return err
		}
		for _, c := range res.Cookies {
			hc := &http.Cookie{
				Name:     c.Name,
				Value:    c.Value,
				Domain:   c.Domain,
				Path:     c.Path,
				Secure:   c.Secure,
				HttpOnly: c.HTTPOnly,
			}
			if !c.Session && c.Expires > 0 {
				sec, frac := math.Modf(c.Expires)
				hc.Expires = time.Unix(int64(sec), int64(frac*1e9)).UTC()
			}
			switch c.SameSite {
			case network.CookieSameSiteStrict:
				hc.SameSite = http.SameSiteStrictMode
			case network.CookieSameSiteLax:
				hc.SameSite = http.SameSiteLaxMode
			case network.CookieSameSiteNone:
				hc.SameSite = http.SameSiteNoneMode
			}
			cookies = append(cookies, hc)
		}
		return nil
	})
	return cookies, err
}

// Screenshot writes a PNG image of the whole page, not only the part in the
// window, to path, for a person to look at. The file is created only once
// the image is complete.
func (b *Browser) Screenshot(path string) error {
	var img []byte
	err := b.do("taking a screenshot", func(ctx context.Context, t *chromedp.Target) error {
		m, err := cdp.Call(ctx, t, page.GetLayoutMetrics, cdp.Empty{})
		if err != nil {
			return err
		}
		params := page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng}
		if c := m.CSSContentSize; c != nil && c.Width > 0 && c.Height > 0 {
			beyond := true
			params.CaptureBeyondViewport = &beyond
			params.Clip = &page.Viewport{Width: math.Ceil(c.Width), Height: math.Ceil(c.Height), Scale: 1}
		}
		res, err := cdp.Call(ctx, t, page.CaptureScreenshot, params)
		if err != nil {
			return err
		}
		// The protocol sends base64, which the JSON decoder of a
		// []byte field already decodes.
		img = res.Data
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := png.DecodeConfig(bytes.NewReader(img)); err != nil {
		return fmt.Errorf("browser: screenshot is not a PNG image: %w", err)
	}
	if err := os.WriteFile(path, img, 0o644); err != nil {
		return fmt.Errorf("browser: writing screenshot: %w", err)
	}
	return nil
}
