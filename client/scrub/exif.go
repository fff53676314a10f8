package scrub

import (
	"encoding/binary"
	"strings"
)

// exifDescription names the identifying kinds of data in an EXIF (TIFF)
// block, for the report: "EXIF (GPS position, camera serial number, …)".
// It only reads tag numbers, never values, and it is bounded: it visits at
// most maxIFDs directories inside the block it is given and never follows an
// offset outside it.
func exifDescription(tiff []byte) string {
	found := exifKinds(tiff)
	if len(found) == 0 {
		return "EXIF"
	}
	return "EXIF (" + strings.Join(found, ", ") + ")"
}

const maxIFDs = 8

// exifKindOrder lists the kinds of EXIF data in the order the report
// names them.
func exifKindOrder() []string {
	return []string{
		"GPS position", "GPS data", "camera serial number", "lens serial number",
		"camera owner name", "author", "unique image ID", "camera make", "camera model",
		"lens model", "software", "date and time", "description or comment",
		"copyright", "maker notes", "thumbnail image",
	}
}

// tiffTagKind names the kind of data a tag of IFD0 or IFD1 holds (TIFF 6.0,
// EXIF 2.32, DNG), or "".
func tiffTagKind(tag uint16) string {
	switch tag {
	case 0x010e, 0x9c9b, 0x9c9c, 0x9c9e, 0x9c9f: // ImageDescription, XPTitle, XPComment, XPKeywords, XPSubject
		return "description or comment"
	case 0x010f:
		return "camera make"
	case 0x0110:
		return "camera model"
	case 0x0131:
		return "software"
	case 0x0132:
		return "date and time"
	case 0x013b, 0x9c9d: // Artist, XPAuthor
		return "author"
	case 0x8298:
		return "copyright"
	case 0xc62f: // CameraSerialNumber (DNG)
		return "camera serial number"
	case 0x0201: // JPEGInterchangeFormat
		return "thumbnail image"
	}
	return ""
}

// exifTagKind names the kind of data a tag of the Exif IFD holds, or "".
func exifTagKind(tag uint16) string {
	switch tag {
	case 0x9003, 0x9004: // DateTimeOriginal, DateTimeDigitized
		return "date and time"
	case 0x927c:
		return "maker notes"
	case 0x9286: // UserComment
		return "description or comment"
	case 0xa420:
		return "unique image ID"
	case 0xa430:
		return "camera owner name"
	case 0xa431: // BodySerialNumber
		return "camera serial number"
	case 0xa433, 0xa434: // LensMake, LensModel
		return "lens model"
	case 0xa435:
		return "lens serial number"
	}
	return ""
}

const (
	tagExifIFD = 0x8769
	tagGPSIFD  = 0x8825
)

func exifKinds(tiff []byte) []string {
	if len(tiff) < 8 {
		return nil
	}
	var bo binary.ByteOrder
	switch string(tiff[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return nil
	}
	seen := map[string]bool{}
	type dir struct {
		off  uint32
		kind int // 0: IFD0/IFD1 chain, 1: Exif IFD, 2: GPS IFD
	}
	queue := []dir{{off: bo.Uint32(tiff[4:8])}}
	visited := map[uint32]bool{}
	for n := 0; len(queue) > 0 && n < maxIFDs; n++ {
		d := queue[0]
		queue = queue[1:]
		if visited[d.off] || int64(d.off)+2 > int64(len(tiff)) {
			continue
		}
		visited[d.off] = true
		count := int(bo.Uint16(tiff[d.off:]))
		entries := tiff[d.off+2:]
		if count*12 > len(entries) {
			count = len(entries) / 12
		}
		for i := range count {
			e := entries[i*12 : i*12+12]
			tag := bo.Uint16(e)
			switch {
			case d.kind == 2:
				if tag == 2 || tag == 4 { // GPSLatitude, GPSLongitude
					seen["GPS position"] = true
				} else {
					seen["GPS data"] = true
				}
			case d.kind == 0 && tag == tagExifIFD:
				queue = append(queue, dir{off: bo.Uint32(e[8:]), kind: 1})
			case d.kind == 0 && tag == tagGPSIFD:
				queue = append(queue, dir{off: bo.Uint32(e[8:]), kind: 2})
			case d.kind == 0:
				if k := tiffTagKind(tag); k != "" {
					seen[k] = true
				}
			default:
				if k := exifTagKind(tag); k != "" {
					seen[k] = true
				}
			}
		}
		if d.kind == 0 && len(entries) >= count*12+4 {
			if next := bo.Uint32(entries[count*12:]); next != 0 {
				queue = append(queue, dir{off: next}) // IFD1: the thumbnail
			}
		}
	}
	if seen["GPS position"] {
		delete(seen, "GPS data")
	}
	var out []string
	for _, k := range exifKindOrder() {
		if seen[k] {
			out = append(out, k)
		}
	}
	return out
}
