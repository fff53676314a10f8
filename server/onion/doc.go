// Package onion runs sandyq's Tor onion services: it starts the system tor,
// publishes v3 services with persistent keys, and hands the HTTP server a
// [net.Listener] per service.
//
//	tor, err := onion.Start(ctx, onion.Config{DataDir: filepath.Join(dataDir, "onion")})
//	src, err := tor.Publish(ctx, onion.ServiceOptions{
//		Name: "source", PoW: true, IntroRate: 25, IntroBurst: 200, MaxStreams: 20,
//	})
//	jour, err := tor.Publish(ctx, onion.ServiceOptions{
//		Name: "journalist", ClientAuth: true, Clients: keys,
//	})
//	go srv.Serve(src.Listener())
//	fmt.Println(src.Addr())
//	defer tor.Close()
//
// # The tor process
//
// [Start] runs tor (from PATH, or [Config.Tor]) with its own data directory,
// a torrc we write (plus [Config.ExtraTorrc]: bridges, Sandbox, a test
// network's authorities) and an empty defaults file, so /etc/tor is never
// read. Tor listens on nothing: no SocksPort unless asked, no ControlPort;
// we talk to it over a unix ControlSocket in DataDir/tor (a 0700 directory)
// with cookie authentication, using bine's control package. SafeLogging is
// on. Tor's output goes to [Config.Log] only.
//
// We start the process ourselves rather than with bine's tor.Start, which
// would open a TCP control port, copy tor's output to our stdout (where the
// onion addresses go), and give tor 300 ms to stop without ever killing it.
// [Tor.Close] closes the control connection, sends SIGTERM to the recorded
// pid, and SIGKILL 5 s later. If sandyq dies, tor follows: it was told
// TAKEOWNERSHIP (it exits when the control connection closes) and
// __OwningControllerProcess (it checks our pid every 15 s). bine's
// DebugWriter, which would log the onion private key, is never set.
//
// # Services
//
// Each service has a name; DataDir/services/NAME is its HiddenServiceDir.
// Tor generates the key there the first time (hs_ed25519_secret_key, mode
// 0600 in a 0700 directory) and reloads it at every start: the same name
// keeps the same address. Tor forwards connections to a unix socket
// DataDir/run/NAME.sock (mode 0600; tor supports unix targets in
// HiddenServicePort), or to 127.0.0.1 on a free port when asked or when the
// path is too long for a socket.
//
// Services are configured as torrc options (HiddenServiceDir and its
// companions, set with SETCONF), not with ADD_ONION, because only the torrc
// form covers everything sandyq needs on one mechanism:
//
//   - proof-of-work DoS defense (HiddenServicePoWDefensesEnabled, with the
//     queue rate and burst): ADD_ONION has it only since tor 0.4.9.2;
//   - the introduction-point rate limit (HiddenServiceEnableIntroDoSDefense):
//     ADD_ONION has no such option at all;
//   - v3 client authorization: authorized_clients/*.auth files, one x25519
//     key per journalist (bine v0.2.0 knows only v2 authorization);
//   - a stream cap per circuit (HiddenServiceMaxStreams, closing the circuit);
//   - keys that tor itself stores and reloads.
//
// [Tor.Publish] returns once tor has uploaded the descriptor and every
// directory it chose has answered (or, once one has accepted, after 15 s).
//
// # Client authorization and revocation
//
// [Service.SetClientAuth] replaces the keys and takes effect at once: the
// service is withdrawn and published again. Tor, left to itself, would keep
// the introduction points and the descriptor cookie when the key list
// changes (so a revoked journalist holding an old descriptor could still
// connect), and does not reread authorized_clients on a SETCONF that leaves
// the torrc lines unchanged. Re-publishing gives fresh introduction points
// and a fresh cookie; the journalists who keep their keys lose the service
// for the few seconds the new descriptor takes. A client without a key is
// refused by its tor with SOCKS error F4, a revoked one with F5. A service
// with ClientAuth and no keys is never published (tor would publish it
// without authorization): [Tor.Publish] refuses it, and SetClientAuth with
// no keys withdraws the service.
//
// Keys come from [GenerateClientIdentity] (the journalist side; its
// [ClientIdentity.AuthFileLine] goes into the journalist tor's
// ClientOnionAuthDir) and travel as [ClientKey] strings ([ParseClientKey]).
//
// # Rotation with a grace period
//
// Several services run at once on one tor, each with its own name, key and
// listener. To rotate an address: publish the new name (say "source-2")
// next to the old one and serve both listeners with the same handler;
// announce the new address; when the grace period ends, [Service.Close]
// the old one and [Tor.RemoveKeys] its name to destroy its key. Which name
// is current is the caller's record (the store), so a crash at any step
// leaves either the old or both addresses working. The tests publish two
// services at once and retire one this way.
package onion
