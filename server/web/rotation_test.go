package web

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
	"sandyq/server/keyring"
	"sandyq/server/store"
)

// TestRotationUnderLoad: 20 slow uploads are in flight when the newsroom's
// recipient set rotates (a newer set is installed in the keyring, as
// "sandyq admin recipients install" does). Each of them keeps the set it
// started with; uploads that start afterwards use the new one; every item
// decrypts with exactly the identity of the set it recorded and with no
// other, so no item mixes sets.
func TestRotationUnderLoad(t *testing.T) {
	newsroom, err := sign.Generate(rand.Reader, sign.Newsroom)
	if err != nil {
		t.Fatal(err)
	}
	var kr *keyring.Keyring
	e := newEnv(t, func(c *Config) {
		c.Limits.MaxConcurrentUploads = 64
		c.RecipientSet = func() (*recipients.Signed, []age.Recipient, error) {
			s, err := kr.Current()
			if err != nil {
				return nil, nil, ErrNoRecipientSet
			}
			return s.Signed, s.Recipients, nil
		}
	})
	if kr, err = keyring.New(e.store, newsroom.Public(), time.Now); err != nil {
		t.Fatal(err)
	}
	install := func(nb time.Time) (*age.HybridIdentity, [16]byte) {
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			t.Fatal(err)
		}
		set, _ := recipients.NewSet(rand.Reader, []string{id.Recipient().String()}, nb, nb.Add(time.Hour))
		raw, _ := set.Sign(newsroom)
		s, err := kr.Install(raw)
		if err != nil {
			t.Fatal(err)
		}
		return id, s.ID
	}
	idA, setA := install(time.Now().Add(-time.Minute))

	type upload struct {
		src    store.SourceID
		done   chan struct{} // closed when the server answered
		status int
	}
	start := func(release chan struct{}) *upload {
		b := e.browser()
		name := b.newSource()
		u := &upload{src: e.sourceID(name), done: make(chan struct{})}
		tok := b.csrf("/en/submit")
		body := multipartBody(field("csrf", tok), file("doc.bin", bytes.Repeat([]byte("d"), 1<<20)))
		pr, pw := io.Pipe()
		first := make(chan struct{})
		go func() {
			// The first 256 KiB reach the server before the rotation…
			pw.Write(body[:256<<10])
			close(first)
			<-release
			// …the rest after it.
			pw.Write(body[256<<10:])
			pw.Close()
		}()
		go func() {
			defer close(u.done)
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/en/submit", pr)
			req.Header.Set("Content-Type", "multipart/form-data; boundary="+testBoundary)
			resp, err := b.c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			u.status = resp.StatusCode
		}()
		<-first
		return u
	}

	release := make(chan struct{})
	var inFlight []*upload
	for range 20 {
		inFlight = append(inFlight, start(release))
	}
	idB, setB := install(time.Now())
	if cur, _ := kr.Current(); cur.ID != setB {
		t.Fatal("the new set is not in force")
	}
	close(release)
	var after []*upload
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			now := make(chan struct{})
			close(now)
			u := start(now)
			mu.Lock()
			after = append(after, u)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, u := range append(inFlight, after...) {
		<-u.done
		if u.status != http.StatusSeeOther {
			t.Fatalf("an upload ended with status %d", u.status)
		}
	}

	check := func(us []*upload, set [16]byte, right, wrong age.Identity) {
		t.Helper()
		for _, u := range us {
			items, err := e.store.ItemsOf(u.src)
			if err != nil || len(items) != 1 {
				t.Fatalf("source has %d items (%v)", len(items), err)
			}
			it := items[0]
			if it.SetID != set {
				t.Errorf("item recorded set %x, want %x", it.SetID[:4], set[:4])
			}
			for _, c := range []struct {
				id   age.Identity
				want bool
			}{{right, true}, {wrong, false}} {
				rc, _ := e.store.OpenItem(it.ID)
				r, err := envelope.Open(rc, c.id)
				if err == nil {
					_, err = io.Copy(io.Discard, r)
				}
				rc.Close()
				var nomatch *age.NoIdentityMatchError
				switch {
				case c.want && err != nil:
					t.Errorf("item of set %x does not open with its set's identity: %v", set[:4], err)
				case !c.want && !errors.As(err, &nomatch):
					t.Errorf("item of set %x: the other set's identity gave %v, want no match", set[:4], err)
				}
			}
		}
	}
	check(inFlight, setA, idA, idB)
	check(after, setB, idB, idA)
	t.Logf("%d uploads kept set A across the rotation, %d used set B", len(inFlight), len(after))
}
