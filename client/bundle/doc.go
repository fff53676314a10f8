// Package bundle reads and writes sandyq bundles: the signed files that
// carry encrypted items from the server to the journalists' air-gapped
// client, and replies and rewrapped items back.
//
// A journalist fetches a bundle over the journalist onion service, carries
// it on a USB stick to the offline laptop, and opens it there with
// sandyq-client. Both the server (which writes submissions bundles and reads
// reply bundles) and the offline client (which reads submissions bundles and
// writes reply bundles) link this package, so it imports no networking
// code and nothing from the server.
//
// The byte layout is specified in docs/format.md ("Bundles"). In short: a
// 124-byte fixed header (magic "sandyq-bundle/1\n", type, signer key,
// manifest length, Ed25519 signature), a manifest in canonical JSON listing
// every item with its size and SHA-256, then the items' bytes, which are
// age files this package treats as opaque.
//
// # Reading
//
// Every byte of a bundle is hostile until checked: the server may be
// compromised and the USB transfer may be damaged.
//
//	r, err := bundle.NewReader(f, bundle.Submissions, bundle.Pinned(pins), nil)
//	if err != nil {
//		return err // nothing of the manifest was used
//	}
//	for {
//		e, item, err := r.Next()
//		if err == io.EOF {
//			break // every item checked, nothing after the last one
//		}
//		if err != nil {
//			return err
//		}
//		// Stream item to a temporary file; on any error, delete it.
//		// io.EOF from item means size and SHA-256 matched e.
//	}
//
// [NewReader] reads the fixed header and refuses anything odd before
// allocating more than the header; reads the manifest (at most
// [MaxManifestSize]) and verifies its signature; asks the [TrustFunc]
// whether the signer may sign; and only then parses the manifest, strictly:
// duplicate, unknown, missing or case-folded keys, nulls, non-integers,
// invalid UTF-8, trailing data and any non-canonical encoding are refused,
// as are unsorted or duplicate IDs, negative sizes, items of unlisted
// sources, repeated sequence numbers, and more than [MaxItems] entries or
// [ReaderOptions.MaxTotalSize] bytes of items.
//
// Each item's reader returns io.EOF only once its bytes matched the
// manifest; otherwise an [ItemError] naming the item ID and wrapping
// [ErrItemHash] (damaged or replaced) or [ErrTruncated]. Whatever was read
// from that item must then be discarded. After the last item [Reader.Next]
// returns [ErrTrailingData] if the input does not end there. Reading uses
// a fixed amount of memory whatever the item sizes.
//
// The manifest's hashes bind the bytes, and the signature binds the
// manifest. What an item claims to be (its source, kind and sequence) is
// also bound inside its encrypted envelope, which the client compares with
// the manifest entry after decrypting: that is what stops a compromised
// server from moving an item to another source.
//
// # Writing
//
// The server knows every item's size and SHA-256 from the store before it
// sends a byte, so the manifest comes first and the items stream after it:
//
//	w, err := bundle.NewWriter(out, m, instanceKey)
//	for _, it := range m.Items {
//		rc, err := st.OpenItem(it.ID)
//		err = w.WriteItem(rc)
//		rc.Close()
//	}
//	err = w.Close()
//
// [Writer.WriteItem] checks each item's bytes against the manifest as it
// copies them, so a damaged store cannot produce a bundle that looks good.
//
// # Trust
//
// A submissions bundle is signed by the server's instance key, a reply
// bundle and a rewrap bundle by the journalist's access key; each type has
// its own signature context, so none can be taken for another, nor for any
// other signature made with the same key.
//
// A rewrap bundle ([Rewraps]) carries new ciphertexts of items the server
// already holds, re-encrypted offline to another recipient set (see package
// sandyq/client/rewrap); the server swaps them in all at once. The client trusts one instance key: the
// journalist either pins it explicitly at setup ([Pin]), or accepts the key
// of the first bundle after comparing it with what the admin sees on the
// server ([TrustOnFirstUse]). A [PinStore] keeps the pin; the file format
// is [WritePin] / [ReadPin].
package bundle
