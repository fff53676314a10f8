// Package scrub removes identifying metadata from files before a journalist
// exports them from the vault.
//
// A photo from a phone carries the place it was taken (EXIF GPS), the
// camera's make, model and serial number, the owner's name, the time, a
// thumbnail of the uncropped picture, and editing history (XMP, IPTC,
// Photoshop resources). Publishing or sharing such a file can identify a
// source. [Scrub] copies a file without those structures and returns a
// [Report] of what it removed and what it could not check:
//
//	rep, err := scrub.Scrub(in, out, hdr.MediaType, hdr.Filename)
//	if err != nil {
//		// out holds an incomplete file: remove it.
//	}
//	fmt.Print(termsafe.EscapeText(rep.String()))
//
// The format is detected from the content ("magic" bytes), never from the
// declared media type or the name, which come from the source and may lie;
// a mismatch is reported as a warning. Scrub is pure Go, streams its input
// with bounded memory (segments and chunks are copied, never loaded whole,
// except a JPEG segment, which is at most 64 KiB by format), and treats the
// file as hostile: lengths are checked against the format's limits, and a
// truncated or malformed file gives an error ([ErrTruncated],
// [ErrMalformed], [ErrChecksum], [ErrUnsupported]) instead of a partial
// result. The caller must delete the output on any error.
//
// # JPEG
//
// Kept: the segments a decoder needs (SOFn, DHT, DQT, DRI, DAC, DNL, SOS and
// the entropy-coded data with its restart markers), the JFIF APP0 header
// (rewritten to its fixed 14 bytes, without a thumbnail) and the Adobe APP14
// segment (rewritten to its fixed 12 bytes; its transform flag says whether
// the colours are YCbCr, YCCK or CMYK, and dropping it would change them).
//
// Removed: APP1 (EXIF, with its thumbnail, and XMP), APP13 (Photoshop
// resources and IPTC), APP2 (ICC profiles, multi-picture index, FlashPix),
// every other APPn, COM comments, JFXX thumbnails, reserved segments, and
// anything after the end-of-image marker (extra images of a multi-picture
// file, appended archives). Files that use the JPEG extension markers
// (JPEG-LS and the other JPGn codes) are refused with [ErrUnsupported]:
// without those segments the image could not be decoded. The report names the kinds of EXIF data that
// were present, such as "EXIF (GPS position, camera serial number)".
//
// ICC profiles are removed although they affect colour: a profile from a
// calibrated scanner, printer or screen can be unique to that device, while
// the colour shift of viewing an image as sRGB is small. The compressed
// image is not re-encoded, so its quantization tables (which can hint at
// the camera model or editing software) remain; the report says so.
//
// # PNG
//
// Kept, after checking their CRC and length: IHDR, PLTE, IDAT, IEND, tRNS,
// and the colour-space chunks gAMA, cHRM, sRGB and cICP, which are small,
// fixed-size numbers that viewers need for correct colours.
//
// Removed: every other ancillary chunk, among them tEXt, zTXt and iTXt
// (author, software, comments, XMP), eXIf, tIME, iCCP (see the ICC note
// above), pHYs (a scanner's DPI), sBIT, bKGD, hIST, sPLT, the APNG
// animation chunks (only the still image stays), private chunks, and
// anything after IEND. An unknown critical chunk is refused with
// [ErrUnsupported], since a decoder could not show the image without it.
//
// # GIF
//
// Kept: the header, colour tables, image data, graphic control extensions
// (delays, transparency) and the NETSCAPE2.0/ANIMEXTS1.0 looping
// extensions. Removed: comment and plain text extensions, other
// application extensions (XMP, ICC, vendor data) and anything after the
// trailer.
//
// # Other formats
//
// Everything else (PDF, Office and OpenDocument files, WebP, HEIF, TIFF and
// camera raw, video, audio, archives, unknown data) is copied unchanged,
// with [Report.Scrubbed] false and a line in [Report.NotChecked] naming the
// format and what may remain in it. Scrub never claims a file is clean when
// it is not.
//
// # What scrubbing cannot do
//
// It removes metadata structures only. The picture itself (a face, a
// document, a window view, a reflection), its sensor noise, and data
// hidden inside the pixel data are not checked; every report of a
// supported image says so.
package scrub
