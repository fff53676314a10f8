package scrub_test

import (
	"bytes"
	"fmt"
	"image"
	"image/png"

	"sandyq/client/scrub"
)

func ExampleScrub() {
	var in bytes.Buffer
	png.Encode(&in, image.NewGray(image.Rect(0, 0, 4, 4)))

	var out bytes.Buffer
	rep, err := scrub.Scrub(&in, &out, "image/jpeg", "photo.png")
	if err != nil {
		// Remove the partial output; export nothing.
		panic(err)
	}
	fmt.Print(rep.String())
	// Output:
	// format: PNG (scrubbed)
	// not checked: PNG: the compressed pixel data was kept as it is; data hidden in the pixels or after the compressed stream was not checked
	// not checked: the visible content of the image (faces, documents, reflections, landmarks) was not checked
	// warning: the declared media type does not match the content (PNG)
}
