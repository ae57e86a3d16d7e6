package interop

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Residency: how long relayed bytes stay inside relayd, from a frame trace
// (p2p/host/frametrace_on.go, a relayd built with -tags relayd_frametrace;
// TestCompare with RELAYD_COMPARE_RESIDENCY=1). For each relayed yamux data
// frame: from the moment relayd had read its header from one peer to the
// moment it began writing the frame that carries the frame's first byte to
// the other. A circuit's two streams are matched by their bytes counted
// back from the end: the splice copies every byte, but each stream also
// carries relayd's own messages before it (multistream, CONNECT, STOP,
// STATUS), and the splice may merge or split frames.

// residencyWanted: RELAYD_COMPARE_RESIDENCY=1, which also makes TestMain
// build relayd with the relayd_frametrace tag (without RELAYD_BIN).
func residencyWanted() bool { return os.Getenv("RELAYD_COMPARE_RESIDENCY") == "1" }

// measureResidency reads relayd's frame trace for [from, to] once the
// trace writer has flushed it (every 100 ms).
func measureResidency(t *testing.T, path string, from, to int64, res *compareResult) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("frame trace: %v (RELAYD_COMPARE_RESIDENCY=1 needs a relayd built with -tags relayd_frametrace; "+
			"without RELAYD_BIN the test builds one)", err)
	}
	defer f.Close()
	frames, err := parseFrameTrace(f, from, to)
	if err != nil {
		t.Fatal(err)
	}
	res.residency = matchResidency(frames)
	if res.residency.frames == 0 {
		t.Fatalf("frame trace %s: no relayed frame matched in %d data frames of the setup dials", path, len(frames))
	}
	t.Logf("frame trace: %+v", res.residency)
}

// tracedFrame is one line of a frame trace.
type tracedFrame struct {
	at     int64 // unix ns
	link   string
	dir    byte // 'R' read from the peer, 'W' written to it
	stream uint32
	length int
}

// traceStream is one direction of one yamux stream: its data frames in
// order, as [start, end) of the bytes counted back from the stream's end.
type traceStream struct {
	link   string
	frames []streamFrame
}

type streamFrame struct {
	at         int64
	start, end int // distance from the end: [end, start) holds the frame
}

// residencyStats is what a trace says for a window of it.
type residencyStats struct {
	frames      int           // relayed frames matched
	p50, p90    time.Duration // per frame
	dials       int           // circuits seen
	insideP50   time.Duration // per circuit: time with a relayed frame inside relayd
	unmatchedRS int           // read streams no write stream matched (relayd's own traffic, mostly)
}

// parseFrameTrace reads a trace, keeping data frames with a body whose
// time is within [from, to]. A link is named by its address and how many
// new links had that address before it.
func parseFrameTrace(r io.Reader, from, to int64) ([]tracedFrame, error) {
	var out []tracedFrame
	gen := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) != 6 || len(f[2]) != 1 {
			return nil, fmt.Errorf("frame trace line %d: %q: want 6 fields", n, sc.Text())
		}
		at, err1 := strconv.ParseInt(f[0], 10, 64)
		typ, err2 := strconv.Atoi(f[3])
		id, err3 := strconv.ParseUint(f[4], 10, 32)
		length, err4 := strconv.Atoi(f[5])
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			return nil, fmt.Errorf("frame trace line %d: %q: bad number", n, sc.Text())
		}
		if f[2] == "N" {
			gen[f[1]]++
			continue
		}
		if at < from || at > to || typ != 0 || length == 0 {
			continue
		}
		link := fmt.Sprintf("%s/%d", f[1], gen[f[1]])
		out = append(out, tracedFrame{at: at, link: link, dir: f[2][0], stream: uint32(id), length: length})
	}
	return out, sc.Err()
}

// streamsOf groups frames of direction dir by link and stream.
func streamsOf(frames []tracedFrame, dir byte) []*traceStream {
	type key struct {
		link string
		id   uint32
	}
	byKey := map[key]*traceStream{}
	var order []*traceStream
	for _, f := range frames {
		if f.dir != dir {
			continue
		}
		k := key{f.link, f.stream}
		s := byKey[k]
		if s == nil {
			s = &traceStream{link: f.link}
			byKey[k] = s
			order = append(order, s)
		}
		s.frames = append(s.frames, streamFrame{at: f.at, start: f.length})
	}
	for _, s := range order {
		left := 0
		for i := len(s.frames) - 1; i >= 0; i-- {
			n := s.frames[i].start
			s.frames[i].end, s.frames[i].start = left, left+n
			left += n
		}
	}
	return order
}

// delays maps each frame of r to the frame of w holding its first byte
// (counted from the end): that frame's time minus r's, or -1 where w has
// no such byte.
func delays(r, w *traceStream) []time.Duration {
	out := make([]time.Duration, len(r.frames))
	for i, f := range r.frames {
		first := f.start - 1
		out[i] = -1
		for _, g := range w.frames {
			if g.end <= first && first < g.start {
				out[i] = time.Duration(g.at - f.at)
				break
			}
		}
	}
	return out
}

// plausible: d is how long a relayed frame could have taken.
func plausible(d time.Duration) bool { return d >= 0 && d < 2*time.Millisecond }

// matchResidency pairs every read stream with the write stream, on another
// link, that its frames map onto best (at least 90% of them within 2 ms,
// and 3 frames or more), and measures them.
func matchResidency(frames []tracedFrame) residencyStats {
	var st residencyStats
	var all []time.Duration
	inside := map[[2]string][]span{}
	writes := streamsOf(frames, 'W')
	for _, r := range streamsOf(frames, 'R') {
		ds, w, score := bestMatch(r, writes)
		if w == nil || score < 0.9 || len(r.frames) < 3 {
			st.unmatchedRS++
			continue
		}
		pair := [2]string{min(r.link, w.link), max(r.link, w.link)}
		for i, d := range ds {
			if plausible(d) {
				all = append(all, d)
				inside[pair] = append(inside[pair], span{r.frames[i].at, r.frames[i].at + int64(d)})
			}
		}
	}
	st.frames = len(all)
	if len(all) > 0 {
		slices.Sort(all)
		st.p50, st.p90 = all[len(all)/2], all[len(all)*9/10]
	}
	var per []time.Duration
	for _, spans := range inside {
		per = append(per, covered(spans))
	}
	st.dials = len(per)
	if len(per) > 0 {
		slices.Sort(per)
		st.insideP50 = per[len(per)/2]
	}
	return st
}

// bestMatch is the write stream, on another link than r's, with the
// largest share of r's frames mapping onto it plausibly: r's delays to it,
// the stream, and that share (nil and 0 when none maps at all).
func bestMatch(r *traceStream, writes []*traceStream) ([]time.Duration, *traceStream, float64) {
	var best []time.Duration
	var bestW *traceStream
	bestScore := 0.0
	for _, w := range writes {
		if w.link == r.link {
			continue
		}
		ds := delays(r, w)
		good := 0
		for _, d := range ds {
			if plausible(d) {
				good++
			}
		}
		if score := float64(good) / float64(len(ds)); score > bestScore {
			best, bestW, bestScore = ds, w, score
		}
	}
	return best, bestW, bestScore
}

// span is a relayed frame's time inside relayd, in unix ns.
type span struct{ from, to int64 }

// covered is how much time the spans cover together (their union).
func covered(spans []span) time.Duration {
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.from, b.from) })
	var total int64
	cur := spans[0]
	for _, s := range spans[1:] {
		if s.from > cur.to {
			total += cur.to - cur.from
			cur = s
		} else {
			cur.to = max(cur.to, s.to)
		}
	}
	return time.Duration(total + cur.to - cur.from)
}

// TestMatchResidency checks the matching on a made-up trace: a circuit
// whose relayed bytes follow relayd's own messages on both streams, with
// a merged write, a split one and an unrelated stream on the same links;
// then a new link at a's address, whose stream 5 is another circuit's.
func TestMatchResidency(t *testing.T) {
	const us = int64(time.Microsecond)
	line := func(at int64, link, dir string, id, n int) string {
		return fmt.Sprintf("%d %s %s 0 %d %d\n", at, link, dir, id, n)
	}
	var b strings.Builder
	b.WriteString("0 a N 0 0 0\n0 b N 0 0 0\n0 c N 0 0 0\n")
	// Dialer a, stream 5 → target b, stream 2. CONNECT (a, 40 bytes) and
	// STOP (to b, 60 bytes) are relayd's own; then the circuit.
	b.WriteString(line(0, "a", "R", 5, 40))
	b.WriteString(line(10*us, "b", "W", 2, 60))
	b.WriteString(line(100*us, "a", "R", 5, 100)) // relayed 10 µs later
	b.WriteString(line(110*us, "b", "W", 2, 100))
	b.WriteString(line(200*us, "a", "R", 5, 30)) // two reads, one write 20 µs after the first
	b.WriteString(line(205*us, "a", "R", 5, 30))
	b.WriteString(line(220*us, "b", "W", 2, 60))
	b.WriteString(line(300*us, "a", "R", 5, 500)) // one read, two writes
	b.WriteString(line(330*us, "b", "W", 2, 250))
	b.WriteString(line(331*us, "b", "W", 2, 250))
	// The way back: b's stream 2 → a's stream 5, 5 µs each, after STATUS.
	b.WriteString(line(50*us, "b", "R", 2, 20))
	b.WriteString(line(60*us, "a", "W", 5, 30))
	for i := range int64(3) {
		b.WriteString(line((400+10*i)*us, "b", "R", 2, 70))
		b.WriteString(line((405+10*i)*us, "a", "W", 5, 70))
	}
	// A stream on a that relayd answers itself: never matched.
	for i := range int64(3) {
		b.WriteString(line((500+i)*us, "a", "R", 7, 11))
	}
	// a's address again: its stream 5 goes to c's 9, 40 µs a frame.
	b.WriteString("600000 a N 0 0 0\n")
	for i := range int64(3) {
		b.WriteString(line((700+10*i)*us, "a", "R", 5, 10))
		b.WriteString(line((740+10*i)*us, "c", "W", 9, 10))
	}
	frames, err := parseFrameTrace(strings.NewReader(b.String()), 0, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	got := matchResidency(frames)
	// a→b: CONNECT maps onto STOP (both relayd's, 10 µs apart, which
	// counts: it is relayd's time too), then 10, 20 and 15 (the merged
	// write), 30 (the split one); b→a: 10, 5, 5, 5. Inside relayd: the
	// union of those spans, 95 µs. The second circuit: 40, 40, 40, and
	// 60 µs inside.
	want := residencyStats{frames: 12, p50: 15 * time.Microsecond, p90: 40 * time.Microsecond, dials: 2,
		insideP50: 95 * time.Microsecond, unmatchedRS: 1}
	if got != want {
		t.Fatalf("matchResidency = %+v, want %+v", got, want)
	}
	if _, err := parseFrameTrace(strings.NewReader("1 a R 0 x 3\n"), 0, 1<<62); err == nil {
		t.Error("a bad line parsed without an error")
	}
}
