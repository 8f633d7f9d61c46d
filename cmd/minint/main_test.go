package main

import (
	"strings"
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
)

func TestConfigFromFlags(t *testing.T) {
	o := parseFlags([]string{"-seed", "7", "-pagingfiles", `C:\pagefile.sys,C:\pagefile2.sys`, "-loadoptions", "MININT INRAM", "-writerperiod", "0"})
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Seed == nil || *cfg.Seed != 7 || len(cfg.PagingFiles) != 2 || cfg.LoadOptions != "MININT INRAM" || cfg.WriterPeriodMS != minint.WriterTightLoop {
		t.Errorf("config = %+v", cfg)
	}
	line, err := cfg.LoaderCmdline()
	if err != nil || line != `seed=7 pagingfiles=C:\pagefile.sys,C:\pagefile2.sys loadoptions="MININT INRAM" writerperiod=0` {
		t.Errorf("cmdline = %q, %v", line, err)
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := parseFlags(nil).config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Seed != nil || len(cfg.PagingFiles) != 1 || cfg.WriterPeriodMS != 500 {
		t.Errorf("defaults = %+v, want no seed, one paging file, writerperiod 500", cfg)
	}
	if cfg, _ := parseFlags([]string{"-pagingfiles", ""}).config(); len(cfg.PagingFiles) != 0 {
		t.Errorf(`-pagingfiles "" gives %q, want none`, cfg.PagingFiles)
	}
}

func TestConfigRejects(t *testing.T) {
	for _, args := range [][]string{{"-seed", "x"}, {"-seed", "-1"}, {"-writerperiod", "-5"}, {"-writes", "-1"}} {
		if _, err := parseFlags(args).config(); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: error %v, want one naming %s", args, err, args[0])
		}
	}
}
