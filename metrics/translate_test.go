package metrics

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/translate"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// TestTranslateMetricsMove: a session's reads show in the scrape as TLB
// lookups and pages by state. The guest is the fake target with one page
// mapped by hand (no Windows kernel, so the session reads through the
// processor's walk); two reads of it are a miss then a hit, both valid 4K.
func TestTranslateMetricsMove(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tg, err := vmitest.New(vmitest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// DTB 0x1000; VA 0x1000 -> PA 0x5000 through PML4, PDPT, PD and PT
	// pages at 0x2000, 0x3000, 0x4000 (present, writable).
	for _, e := range []struct{ at, v uint64 }{
		{0x1000, 0x2003}, {0x2000, 0x3003}, {0x3000, 0x4003}, {0x4000 + 8, 0x5003},
	} {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], e.v)
		if err := tg.Poke(e.at, b[:]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tg.Poke(0x5000, []byte("frost")); err != nil {
		t.Fatal(err)
	}
	s, err := session.New(&session.Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, "win", "", tg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	reg := session.NewRegistry(nil, nil)
	if err := reg.Add(s); err != nil {
		t.Fatal(err)
	}
	m := New(reg)
	_, body := scrape(t, m.Handler(false), "/metrics")
	for _, want := range []string{
		`frost_translate_tlb_lookups_total{result="hit",vm="win"} 0`,
		`frost_translate_pages_total{state="valid_4k",vm="win"} 0`,
		`frost_translate_pages_total{state="error_read",vm="win"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("before any read, the scrape lacks %q:\n%s", want, grepFrost(body))
		}
	}
	tr, err := s.Translator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	for range 2 {
		if res := tr.ReadVirtual(0x1000, 0x1000, buf); res.Err() != nil || string(buf) != "frost" {
			t.Fatalf("ReadVirtual: %q, %v", buf, res.Err())
		}
	}
	_, body = scrape(t, m.Handler(false), "/metrics")
	for _, want := range []string{
		`frost_translate_tlb_lookups_total{result="hit",vm="win"} 1`,
		`frost_translate_tlb_lookups_total{result="miss",vm="win"} 1`,
		`frost_translate_pages_total{state="valid_4k",vm="win"} 2`,
		`frost_translate_walk_cache_lookups_total{cache="pde",result="miss",vm="win"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("after two reads, the scrape lacks %q:\n%s", want, grepFrost(body))
		}
	}
}

// TestTranslateSeries: every counter of a snapshot becomes its series,
// each PageState under its label.
func TestTranslateSeries(t *testing.T) {
	st := translate.Stats{TLBHits: 7, TLBMisses: 3, PDEHits: 5, PDEMisses: 2, TableHits: 11, TableMisses: 4}
	st.Pages[translate.PageVADPrototype] = 9
	st.Pages[translate.PageErrEntry] = 1
	reg := prometheus.NewPedanticRegistry() // checks Describe against Collect too
	reg.MustRegister(statsCollector(st))
	_, body := scrape(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), "/metrics")
	got := map[string]bool{}
	n := 0
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "frost_") {
			got[l] = true
			n++
		}
	}
	if want := 2 + 4 + int(translate.NumPageStates); n != want {
		t.Errorf("%d series, want %d", n, want)
	}
	for _, want := range []string{
		`frost_translate_tlb_lookups_total{result="hit",vm="vm1"} 7`,
		`frost_translate_tlb_lookups_total{result="miss",vm="vm1"} 3`,
		`frost_translate_walk_cache_lookups_total{cache="pde",result="hit",vm="vm1"} 5`,
		`frost_translate_walk_cache_lookups_total{cache="pde",result="miss",vm="vm1"} 2`,
		`frost_translate_walk_cache_lookups_total{cache="table",result="hit",vm="vm1"} 11`,
		`frost_translate_walk_cache_lookups_total{cache="table",result="miss",vm="vm1"} 4`,
		`frost_translate_pages_total{state="vad_prototype",vm="vm1"} 9`,
		`frost_translate_pages_total{state="error_entry",vm="vm1"} 1`,
		`frost_translate_pages_total{state="valid_4k",vm="vm1"} 0`,
	} {
		if !got[want] {
			t.Errorf("lacks %s; have %v", want, got)
		}
	}
}

// statsCollector serves one snapshot as VM "vm1".
type statsCollector translate.Stats

func (c statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range translateDescs {
		ch <- d
	}
}

func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	collectTranslate(ch, "vm1", translate.Stats(c))
}
