package testenv

import "testing"

func TestInCI(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want bool
	}{{"true", true}, {"1", true}, {"", false}, {"false", false}, {"yes-please", false}} {
		t.Setenv("CI", tc.val)
		if got := InCI(); got != tc.want {
			t.Errorf("CI=%q: InCI() = %v, want %v", tc.val, got, tc.want)
		}
	}
}

func TestRequireBinaryFound(t *testing.T) {
	if p := RequireBinary(t, "sh", "part of every system"); p == "" {
		t.Fatal("RequireBinary returned an empty path for sh")
	}
}
