package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/chromedp/cdproto"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/domsnapshot"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// nodeElement is the DOM nodeType of an element.
const nodeElement = 1

// modifierCtrl is the Ctrl bit of the modifiers of an Input domain event.
const modifierCtrl = 2

// staleRetries bounds how often a lookup starts again when its node IDs were
// invalidated under it (see find).
const staleRetries = 10

// element is an element of the page found by a selector. Its backend node ID
// stays valid as long as the element exists, unlike a DOM NodeID, which every
// DOM.getDocument call (chromedp makes one on each DOM.documentUpdated event)
// invalidates.
type element struct {
	id    cdp.BackendNodeID
	name  string // lower case: "input", "textarea", "button"…
	attrs map[string]string
}

// inputType returns the type of an <input>, lower case, "text" if unset.
func (e *element) inputType() string {
	if t, ok := e.attrs["type"]; ok && t != "" {
		return strings.ToLower(t)
	}
	return "text"
}

// isTextField reports whether a person can type into the element.
func (e *element) isTextField() bool {
	switch e.name {
	case "textarea":
		return true
	case "input":
		switch e.inputType() {
		case "checkbox", "radio", "file", "submit", "button", "image", "reset", "hidden", "range", "color":
			return false
		}
		return true
	}
	return false
}

// documentRoot returns the document node with its children.
func documentRoot(ctx context.Context, t *chromedp.Target) (*cdp.Node, error) {
	depth := int64(1)
	doc, err := cdp.Call(ctx, t, dom.GetDocument, dom.GetDocumentParams{Depth: &depth})
	if err != nil {
		return nil, fmt.Errorf("getting document: %w", err)
	}
	if doc.Root == nil {
		return nil, errors.New("page has no document")
	}
	return doc.Root, nil
}

// find returns the first element that selector matches, using only the DOM
// domain (no script runs).
func find(ctx context.Context, t *chromedp.Target, selector string) (*element, error) {
	for attempt := 0; ; attempt++ {
		e, err := findOnce(ctx, t, selector)
		if err != nil && isStale(err) && attempt < staleRetries && ctx.Err() == nil {
			continue
		}
		return e, err
	}
}

func findOnce(ctx context.Context, t *chromedp.Target, selector string) (*element, error) {
	root, err := documentRoot(ctx, t)
	if err != nil {
		return nil, err
	}
	q, err := cdp.Call(ctx, t, dom.QuerySelector, dom.QuerySelectorParams{NodeID: root.NodeID, Selector: selector})
	if err != nil {
		return nil, fmt.Errorf("querying %q: %w", selector, err)
	}
	if q.NodeID == 0 {
		return nil, fmt.Errorf("%w %q", ErrNoElement, selector)
	}
	d, err := cdp.Call(ctx, t, dom.DescribeNode, dom.DescribeNodeParams{NodeID: q.NodeID})
	if err != nil {
		return nil, fmt.Errorf("describing %q: %w", selector, err)
	}
	n := d.Node
	e := &element{id: n.BackendNodeID, name: strings.ToLower(n.NodeName), attrs: make(map[string]string)}
	for i := 0; i+1 < len(n.Attributes); i += 2 {
		e.attrs[strings.ToLower(n.Attributes[i])] = n.Attributes[i+1]
	}
	return e, nil
}

// isStale reports whether err is the protocol's answer to a NodeID that a
// newer DOM.getDocument invalidated.
func isStale(err error) bool {
	var pe *cdproto.Error
	if !errors.As(err, &pe) {
		return false
	}
	return strings.Contains(pe.Message, "Could not find node with given id") ||
		strings.Contains(pe.Message, "No node with given id")
}

func unmarshalJSONString(v []byte, s *string) error {
	if err := json.Unmarshal(v, s); err != nil {
		return fmt.Errorf("decoding string value: %w", err)
	}
	return nil
}

// SetValue puts value into a text field (an <input> a person can type into,
// or a <textarea>) the way a person does: it focuses the field, selects what
// it holds, and types value over it with the Input domain, so the browser
// applies its own rules (maxlength, no line breaks in an <input>). It fails
// if the field then does not hold value. Line breaks in a <textarea> are sent
// as CRLF in a form submission, as the HTML standard says.
//
// The value never appears in an error message: it can be a codename.
func (b *Browser) SetValue(selector, value string) error {
	return b.do("setting a value", func(ctx context.Context, t *chromedp.Target) error {
		e, err := find(ctx, t, selector)
		if err != nil {
			return err
		}
		if !e.isTextField() {
			return fmt.Errorf("%w: %q is not a text field", ErrWrongElement, selector)
		}
		if _, has := e.attrs["disabled"]; has {
			return fmt.Errorf("%w: %q is disabled", ErrWrongElement, selector)
		}
		if err := focus(ctx, t, e); err != nil {
			return err
		}
		if err := selectAll(ctx, t); err != nil {
			return err
		}
		if value == "" {
			err = pressKey(ctx, t, "Backspace", "Backspace", 8, "deleteBackward")
		} else {
			_, err = cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: value})
		}
		if err != nil {
			return fmt.Errorf("typing into %q: %w", selector, err)
		}
		got, err := fieldValue(ctx, t, e)
		if err != nil {
			return err
		}
		if got != value {
			return fmt.Errorf("%q holds %d bytes after typing, not the %d typed (maxlength? line breaks in an input?)", selector, len(got), len(value))
		}
		return nil
	})
}

// Value returns the current value of a text field, as a form submission would
// send it (before CRLF normalization). It reads a DOM snapshot: no script runs.
func (b *Browser) Value(selector string) (string, error) {
	var v string
	err := b.do("reading a value", func(ctx context.Context, t *chromedp.Target) error {
		e, err := find(ctx, t, selector)
		if err != nil {
			return err
		}
		if !e.isTextField() {
			return fmt.Errorf("%w: %q is not a text field", ErrWrongElement, selector)
		}
		v, err = fieldValue(ctx, t, e)
		return err
	})
	return v, err
}

// Checked reports whether a checkbox or radio button is checked now.
func (b *Browser) Checked(selector string) (bool, error) {
	var on bool
	err := b.do("reading a checkbox", func(ctx context.Context, t *chromedp.Target) error {
		e, err := find(ctx, t, selector)
		if err != nil {
			return err
		}
		on, err = checked(ctx, t, e, selector)
		return err
	})
	return on, err
}

// SetChecked makes a checkbox or radio button checked (on true) or
// unchecked, by clicking it with the mouse if it is not in that state yet.
// A radio button cannot be unchecked by a click: on false for a checked radio
// button is an [ErrWrongElement] error.
func (b *Browser) SetChecked(selector string, on bool) error {
	return b.do("checking a box", func(ctx context.Context, t *chromedp.Target) error {
		e, err := find(ctx, t, selector)
		if err != nil {
			return err
		}
		cur, err := checked(ctx, t, e, selector)
		if err != nil || cur == on {
			return err
		}
		if !on && e.inputType() == "radio" {
			return fmt.Errorf("%w: radio button %q cannot be unchecked by a click", ErrWrongElement, selector)
		}
		if err := click(ctx, t, e, selector); err != nil {
			return err
		}
		if cur, err = checked(ctx, t, e, selector); err != nil {
			return err
		}
		if cur != on {
			return fmt.Errorf("%q did not change state when clicked", selector)
		}
		return nil
	})
}

// SetFiles chooses files in an <input type=file>, as the file chooser does.
// More than one file needs the input's multiple attribute. The files are read
// by Chromium when the form is submitted; they must exist.
func (b *Browser) SetFiles(selector string, paths ...string) error {
	abs := make([]string, len(paths))
	for i, p := range paths {
		a, err := filepath.Abs(p)
		if err != nil {
			return fmt.Errorf("browser: choosing files: %w", err)
		}
		if fi, err := os.Stat(a); err != nil {
			return fmt.Errorf("browser: choosing files: %w", err)
		} else if !fi.Mode().IsRegular() {
			return fmt.Errorf("browser: choosing files: file %d is not a regular file", i)
		}
		abs[i] = a
	}
	return b.do("choosing files", func(ctx context.Context, t *chromedp.Target) error {
		e, err := find(ctx, t, selector)
		if err != nil {
			return err
		}
		if e.name != "input" || e.inputType() != "file" {
			return fmt.Errorf("%w: %q is not a file input", ErrWrongElement, selector)
		}
		if _, multi := e.attrs["multiple"]; len(abs) > 1 && !multi {
			return fmt.Errorf("%w: %q takes one file, not %d", ErrWrongElement, selector, len(abs))
		}
		_, err = cdp.Call(ctx, t, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: abs, BackendNodeID: e.id})
		return err
	})
}

// Click clicks the middle of the element with the left mouse button, as a
// person does, and returns without waiting for anything that the click
// starts. Use [Browser.Submit] for a click that loads a new page.
func (b *Browser) Click(selector string) error {
	return b.do("clicking", func(ctx context.Context, t *chromedp.Target) error {
		e, err := find(ctx, t, selector)
		if err != nil {
			return err
		}
		return click(ctx, t, e, selector)
	})
}

// Submit clicks the element, such as a form's submit button or a link, with
// the mouse, and waits until the page that the click loads has loaded: the
// upload of the form, the server's answer and the load event of the new page
// all fit in the timeout of b. The browser builds and sends the request itself
// (a multipart/form-data body for a form with enctype="multipart/form-data",
// files streamed from disk). If the click loads nothing, for example because
// a required field is empty, Submit fails when the timeout ends.
func (b *Browser) Submit(selector string) error {
	return b.load("submitting", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		e, err := find(ctx, t, selector)
		if err != nil {
			return err
		}
		return click(ctx, t, e, selector)
	}))
}

// focus scrolls the element into view and gives it the keyboard focus.
func focus(ctx context.Context, t *chromedp.Target, e *element) error {
	if _, err := cdp.Call(ctx, t, dom.ScrollIntoViewIfNeeded, dom.ScrollIntoViewIfNeededParams{BackendNodeID: e.id}); err != nil {
		return fmt.Errorf("scrolling to the element: %w", err)
	}
	if _, err := cdp.Call(ctx, t, dom.Focus, dom.FocusParams{BackendNodeID: e.id}); err != nil {
		return fmt.Errorf("focusing the element: %w", err)
	}
	return nil
}

// selectAll selects the whole content of the focused field, as Ctrl+A does.
func selectAll(ctx context.Context, t *chromedp.Target) error {
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
		p := input.DispatchKeyEventParams{
			Type:                  typ,
			Modifiers:             modifierCtrl,
			Key:                   "a",
			Code:                  "KeyA",
			WindowsVirtualKeyCode: 65,
		}
		if typ == input.DispatchKeyEventTypeRawKeyDown {
			p.Commands = []string{"selectAll"}
		}
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, p); err != nil {
			return fmt.Errorf("selecting the field's content: %w", err)
		}
	}
	return nil
}

// pressKey presses and releases a key that has no text, running the editing
// command that it stands for.
func pressKey(ctx context.Context, t *chromedp.Target, key, code string, vk int64, command string) error {
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
		p := input.DispatchKeyEventParams{Type: typ, Key: key, Code: code, WindowsVirtualKeyCode: vk}
		if typ == input.DispatchKeyEventTypeRawKeyDown && command != "" {
			p.Commands = []string{command}
		}
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, p); err != nil {
			return err
		}
	}
	return nil
}

// click scrolls the element into view and clicks the middle of its first
// box with the left mouse button, after checking that the point belongs to
// the element and is not covered by another one.
func click(ctx context.Context, t *chromedp.Target, e *element, selector string) error {
	if _, err := cdp.Call(ctx, t, dom.ScrollIntoViewIfNeeded, dom.ScrollIntoViewIfNeededParams{BackendNodeID: e.id}); err != nil {
		// "Node does not have a layout object": display: none.
		return fmt.Errorf("%w: %q is not rendered: %v", ErrObscured, selector, err)
	}
	q, err := cdp.Call(ctx, t, dom.GetContentQuads, dom.GetContentQuadsParams{BackendNodeID: e.id})
	if err != nil || len(q.Quads) == 0 || len(q.Quads[0]) != 8 {
		return fmt.Errorf("%w: %q has no box on the page", ErrObscured, selector)
	}
	var x, y float64
	for i := 0; i < 8; i += 2 {
		x += q.Quads[0][i] / 4
		y += q.Quads[0][i+1] / 4
	}
	hit, err := cdp.Call(ctx, t, dom.GetNodeForLocation, dom.GetNodeForLocationParams{X: int64(x), Y: int64(y)})
	if err != nil {
		return fmt.Errorf("hit-testing %q: %w", selector, err)
	}
	if ok, err := contains(ctx, t, e.id, hit.BackendNodeID); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%w: another element covers %q", ErrObscured, selector)
	}
	for _, typ := range []input.DispatchMouseEventType{input.DispatchMouseEventTypeMouseMoved, input.DispatchMouseEventTypeMousePressed, input.DispatchMouseEventTypeMouseReleased} {
		p := input.DispatchMouseEventParams{Type: typ, X: x, Y: y}
		if typ != input.DispatchMouseEventTypeMouseMoved {
			p.Button = input.MouseButtonLeft
			p.ClickCount = 1
			p.Buttons = 1
			if typ == input.DispatchMouseEventTypeMouseReleased {
				p.Buttons = 0
			}
		}
		if _, err := cdp.Call(ctx, t, input.DispatchMouseEvent, p); err != nil {
			return fmt.Errorf("clicking %q: %w", selector, err)
		}
	}
	return nil
}

// contains reports whether the node hit is the element id or inside it.
func contains(ctx context.Context, t *chromedp.Target, id, hit cdp.BackendNodeID) (bool, error) {
	if id == hit {
		return true, nil
	}
	depth := int64(-1)
	d, err := cdp.Call(ctx, t, dom.DescribeNode, dom.DescribeNodeParams{BackendNodeID: id, Depth: &depth})
	if err != nil {
		return false, fmt.Errorf("describing the element: %w", err)
	}
	var walk func(n *cdp.Node) bool
	walk = func(n *cdp.Node) bool {
		if n.BackendNodeID == hit {
			return true
		}
		return slices.ContainsFunc(n.Children, walk)
	}
	return walk(d.Node), nil
}

// snapshotNode returns the DOM snapshot of the top document and the index of
// the element in it.
func snapshotNode(ctx context.Context, t *chromedp.Target, e *element) (*domsnapshot.CaptureSnapshotResult, int64, error) {
	s, err := cdp.Call(ctx, t, domsnapshot.CaptureSnapshot, domsnapshot.CaptureSnapshotParams{ComputedStyles: []string{}})
	if err != nil {
		return nil, 0, fmt.Errorf("capturing a DOM snapshot: %w", err)
	}
	if len(s.Documents) == 0 || s.Documents[0].Nodes == nil {
		return nil, 0, errors.New("DOM snapshot has no document")
	}
	i := slices.Index(s.Documents[0].Nodes.BackendNodeID, e.id)
	if i < 0 {
		return nil, 0, errors.New("element is not in the DOM snapshot")
	}
	return &s, int64(i), nil
}

// fieldValue returns the current value of a text field.
func fieldValue(ctx context.Context, t *chromedp.Target, e *element) (string, error) {
	s, i, err := snapshotNode(ctx, t, e)
	if err != nil {
		return "", err
	}
	nodes := s.Documents[0].Nodes
	data := nodes.InputValue
	if e.name == "textarea" {
		data = nodes.TextValue
	}
	if data == nil {
		return "", nil
	}
	k := slices.Index(data.Index, i)
	if k < 0 || k >= len(data.Value) {
		return "", nil
	}
	si := int(data.Value[k])
	if si == -1 { // the empty string
		return "", nil
	}
	if si < 0 || si >= len(s.Strings) {
		return "", errors.New("DOM snapshot refers to a missing string")
	}
	return s.Strings[si], nil
}

// checked reports whether a checkbox or radio button is checked.
func checked(ctx context.Context, t *chromedp.Target, e *element, selector string) (bool, error) {
	if typ := e.inputType(); e.name != "input" || (typ != "checkbox" && typ != "radio") {
		return false, fmt.Errorf("%w: %q is not a checkbox or radio button", ErrWrongElement, selector)
	}
	s, i, err := snapshotNode(ctx, t, e)
	if err != nil {
		return false, err
	}
	c := s.Documents[0].Nodes.InputChecked
	return c != nil && slices.Contains(c.Index, i), nil
}
