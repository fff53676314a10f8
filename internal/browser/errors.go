package browser

import "errors"

// ErrNoElement is returned when a CSS selector matches no element of the
// current page. Tests that expect a field to be absent can check for it with
// errors.Is.
var ErrNoElement = errors.New("browser: no element matches the selector")

// ErrWrongElement is returned when a selector matches an element of the wrong
// kind for the operation, such as [Browser.SetFiles] on a text field, or
// [Browser.SetValue] on a checkbox.
var ErrWrongElement = errors.New("browser: element is of the wrong kind")

// ErrObscured is returned by [Browser.Click] and [Browser.Submit] when the
// point at the middle of the element is covered by another element, or the
// element has no box on the page (display: none, zero size). A person could
// not click it either.
var ErrObscured = errors.New("browser: element cannot be clicked")

// ErrClosed is returned by every method once [Browser.Close] has run.
var ErrClosed = errors.New("browser: closed")
