package pgcluster

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const portFile = "custodes.port"

// choosePort returns the port remembered in dir if it is still free and not
// skipped, else a free port chosen by the kernel.
func choosePort(dir string, skipRemembered bool) (int, error) {
	if !skipRemembered {
		if b, err := os.ReadFile(filepath.Join(dir, portFile)); err == nil {
			p, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err == nil && p > 0 && p < 65536 && portFree(p) {
				return p, nil
			}
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("couldn't find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func rememberPort(dir string, port int, acct *account) error {
	path := filepath.Join(dir, portFile)
	if err := os.WriteFile(path, []byte(strconv.Itoa(port)+"\n"), 0o600); err != nil {
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	return acct.chown(path)
}
