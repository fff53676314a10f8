package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The scrubbing corpus: photos and documents carrying the metadata that
// identifies a source — GPS position, camera serial number, author,
// software, timestamps — written with exiftool (images, PDF XMP) or by
// hand (the PDF info dictionary, the DOCX properties and ZIP times). Every
// planted value holds a marker, so that a tag left in a cleaned file is
// counted only if it still carries what was planted: a "Producer: cairo"
// that mat2's renderer adds, or a JFIF header that any JPEG encoder
// writes, identifies nobody.

const (
	plantAuthor   = "Aigerim PLANTED-AUTHOR"
	plantSerial   = "PLANTED-SERIAL-4711"
	plantSoftware = "PLANTED-SOFTWARE 2.1"
	plantDate     = "2013:07:19 08:42:17"
)

// Tag categories, in the order the tables show them.
var tagCategories = []string{"GPS", "serial", "author", "software", "timestamp"}

// corpusFile is one file of the corpus.
type corpusFile struct {
	name, kind, path string
}

// makeCorpus writes the corpus into dir.
func (b *bench) makeCorpus(ctx context.Context, dir string) ([]corpusFile, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	gps := []string{"-GPSLatitude=43.238949", "-GPSLatitudeRef=N", "-GPSLongitude=76.889709",
		"-GPSLongitudeRef=E", "-GPSAltitude=851", "-GPSAltitudeRef=0", "-GPSDateStamp=2013:07:19", "-GPSTimeStamp=08:42:17"}
	xmp := []string{"-XMP-dc:Creator=" + plantAuthor, "-XMP-dc:Rights=" + plantAuthor, "-XMP-xmp:CreatorTool=" + plantSoftware,
		"-XMP-xmp:CreateDate=" + plantDate, "-XMP-xmp:ModifyDate=" + plantDate, "-XMP-xmp:MetadataDate=" + plantDate}
	exif := []string{"-EXIF:Artist=" + plantAuthor, "-EXIF:Copyright=" + plantAuthor, "-EXIF:Make=PlantedCam",
		"-EXIF:Model=PC-100", "-EXIF:SerialNumber=" + plantSerial, "-EXIF:LensSerialNumber=" + plantSerial,
		"-EXIF:OwnerName=" + plantAuthor, "-EXIF:Software=" + plantSoftware, "-EXIF:DateTimeOriginal=" + plantDate,
		"-EXIF:CreateDate=" + plantDate, "-EXIF:ModifyDate=" + plantDate}
	files := []struct {
		name, kind string
		write      func(path string) error
		tags       []string
	}{
		{"photo-camera.jpg", "JPEG", func(p string) error { return writeJPEG(p, 1024, 768, 1) },
			concat(exif, gps, xmp, []string{"-XMP-aux:SerialNumber=" + plantSerial, "-IPTC:By-line=" + plantAuthor,
				"-IPTC:DateCreated=2013:07:19", "-IPTC:TimeCreated=08:42:17+06:00", "-IPTC:OriginatingProgram=" + plantSoftware,
				"-Comment=taken by " + plantAuthor})},
		{"photo-phone.jpg", "JPEG", func(p string) error { return writeJPEG(p, 640, 480, 2) },
			concat(exif, gps)},
		{"screenshot.png", "PNG", func(p string) error { return writePNG(p, 800, 500) },
			concat([]string{"-PNG:Author=" + plantAuthor, "-PNG:Software=" + plantSoftware, "-PNG:CreationTime=" + plantDate,
				"-PNG:Copyright=" + plantAuthor, "-PNG:Comment=by " + plantAuthor, "-PNG:ModifyDate=" + plantDate,
				"-EXIF:SerialNumber=" + plantSerial, "-EXIF:DateTimeOriginal=" + plantDate}, gps, xmp)},
		{"drawing.gif", "GIF", func(p string) error { return writeGIF(p, 320, 240) },
			concat([]string{"-GIF:Comment=drawn by " + plantAuthor}, xmp)},
		{"report.pdf", "PDF", writePDF,
			concat(xmp, []string{"-XMP-pdf:Producer=" + plantSoftware, "-XMP-pdf:Author=" + plantAuthor})},
		{"memo.docx", "DOCX", writeDOCX, nil},
	}
	var out []corpusFile
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := f.write(p); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.name, err)
		}
		if len(f.tags) > 0 {
			args := append([]string{"-q", "-overwrite_original", "-m"}, f.tags...)
			if _, err := b.procs.run(ctx, runOpts{}, b.tools.exif, append(args, p)...); err != nil {
				return nil, fmt.Errorf("writing the metadata of %s: %w", f.name, err)
			}
		}
		out = append(out, corpusFile{name: f.name, kind: f.kind, path: p})
	}
	return out, nil
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// picture draws something photo-like: gradients and rings.
func picture(w, h, seed int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			d := (x-w/2)*(x-w/2) + (y-h/3)*(y-h/3)
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((d / (50 * seed)) % 256), 255})
		}
	}
	return img
}

func writeJPEG(path string, w, h, seed int) error {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, picture(w, h, seed), &jpeg.Options{Quality: 88}); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

func writePNG(path string, w, h int) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, picture(w, h, 3)); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

func writeGIF(path string, w, h int) error {
	src := picture(w, h, 4)
	img := image.NewPaletted(src.Bounds(), palette.Plan9)
	for y := range h {
		for x := range w {
			img.Set(x, y, src.At(x, y))
		}
	}
	var buf bytes.Buffer
	if err := gif.Encode(&buf, img, nil); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

// writePDF writes a one-page PDF whose info dictionary carries the planted
// author, software and dates (exiftool adds XMP to it afterwards).
func writePDF(path string) error {
	content := "BT /F1 24 Tf 72 720 Td (Internal report: not for publication) Tj ET\n"
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", len(content), content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		"<< /Title (Internal report) /Author (" + plantAuthor + ") /Creator (" + plantSoftware + ") /Producer (" +
			plantSoftware + ") /CreationDate (D:20130719084217+06'00') /ModDate (D:20130719084217+06'00') >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, len(objs), xref)
	return os.WriteFile(path, b.Bytes(), 0o600)
}

// writeDOCX writes a minimal Word document whose core and application
// properties carry the planted author, software and dates, with the ZIP
// entries' times set to the planted time as an editor would leave them.
func writeDOCX(path string) error {
	const iso = "2013-07-19T08:42:17Z"
	files := []struct{ name, body string }{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/><Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/></Relationships>`},
		{"word/document.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Memo: the figures in the annual report were changed.</w:t></w:r></w:p></w:body></w:document>`},
		{"docProps/core.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:title>Memo</dc:title><dc:creator>` + plantAuthor + `</dc:creator><cp:lastModifiedBy>` + plantAuthor + `</cp:lastModifiedBy><cp:revision>3</cp:revision><dcterms:created xsi:type="dcterms:W3CDTF">` + iso + `</dcterms:created><dcterms:modified xsi:type="dcterms:W3CDTF">` + iso + `</dcterms:modified></cp:coreProperties>`},
		{"docProps/app.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Application>` + plantSoftware + `</Application><Company>` + plantAuthor + `</Company></Properties>`},
	}
	mtime := time.Date(2013, 7, 19, 8, 42, 17, 0, time.UTC)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: mtime})
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte(f.body)); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

// tagCount is the number of identifying tags of each category in a file.
type tagCount map[string]int

func (c tagCount) total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// exifCount runs exiftool once over paths and counts each file's
// identifying tags.
func (b *bench) exifCount(ctx context.Context, paths []string) (map[string]tagCount, error) {
	args := append([]string{"-j", "-a", "-G1:4", "-q"}, paths...)
	r, err := b.procs.run(ctx, runOpts{}, b.tools.exif, args...)
	if err != nil && r.Stdout == "" {
		return nil, err
	}
	return countTags([]byte(r.Stdout))
}

// countTags parses exiftool's JSON (-j -a -G1:4: duplicate tags, such as
// the modification time of every ZIP entry, come as "Group:CopyN:Name")
// and counts, for each file, the tags of each category (see classifyTag).
func countTags(js []byte) (map[string]tagCount, error) {
	var files []map[string]any
	if err := json.Unmarshal(js, &files); err != nil {
		return nil, fmt.Errorf("reading exiftool's output: %w", err)
	}
	out := map[string]tagCount{}
	for _, f := range files {
		src, _ := f["SourceFile"].(string)
		c := tagCount{}
		for k, v := range f {
			if cat := classifyTag(k, fmt.Sprint(v)); cat != "" {
				c[cat]++
			}
		}
		out[src] = c
	}
	return out, nil
}

// classifyTag says which identifying category a tag ("Group:Name" or
// "Group:CopyN:Name" as exiftool -G1:4 names it) with value belongs to, or
// "" for none. Tags about the file on this disk (File, System),
// exiftool's own (ExifTool) and those computed from others (Composite)
// are not in the file and do not count.
func classifyTag(key, value string) string {
	group, _, ok := strings.Cut(key, ":")
	if !ok {
		return ""
	}
	name := key[strings.LastIndexByte(key, ':')+1:]
	switch group {
	case "File", "System", "ExifTool", "Composite":
		return ""
	}
	switch {
	case strings.HasPrefix(name, "GPS") && name != "GPSVersionID":
		return "GPS"
	case strings.Contains(value, "PLANTED-SERIAL"):
		return "serial"
	case strings.Contains(value, "PLANTED-AUTHOR"):
		return "author"
	case strings.Contains(value, "PLANTED-SOFTWARE"):
		return "software"
	case strings.Contains(value, "2013:07:19"), strings.Contains(value, "2013-07-19"):
		return "timestamp"
	}
	return ""
}

// scrubResult is what the scrubbing comparison found.
type scrubResult struct {
	files []scrubFile
}

type scrubFile struct {
	name, kind           string
	sandyqPath, mat2Path string
	sandyqNote           string // sandyq-client's "not scrubbed" warning
	mat2Err              string // mat2's failure
	original, sandyq     tagCount
	mat2                 *tagCount // nil: mat2 could not clean it
}
