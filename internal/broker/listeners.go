package broker

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/fjordlog/fjord/internal/metadata"
)

// Listener is one entry of listeners / advertised.listeners:
// NAME://host:port.
type Listener struct {
	Name string
	Host string
	Port int32
}

// Addr returns host:port.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))) }

// ParseListeners parses a listeners list such as
// "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093".
func ParseListeners(items []string) ([]Listener, error) {
	var out []Listener
	seen := map[string]bool{}
	for _, item := range items {
		name, addr, ok := strings.Cut(item, "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("listener %q: expected NAME://host:port", item)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("listener %q: %w", item, err)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("listener %q: bad port", item)
		}
		name = strings.ToUpper(name)
		if seen[name] {
			return nil, fmt.Errorf("listener name %s repeated", name)
		}
		seen[name] = true
		out = append(out, Listener{Name: name, Host: host, Port: int32(p)})
	}
	return out, nil
}

// endpoints returns the advertised endpoints of the client listeners: the
// advertised address when given, else the bound one (with a wildcard host
// replaced by 127.0.0.1 so that clients can connect).
func endpoints(bound, advertised []Listener, controllerNames []string) []metadata.Endpoint {
	adv := map[string]Listener{}
	for _, l := range advertised {
		adv[l.Name] = l
	}
	var out []metadata.Endpoint
	for _, l := range bound {
		if isControllerListener(l.Name, controllerNames) {
			continue
		}
		if a, ok := adv[l.Name]; ok {
			l = a
		}
		if l.Host == "" || l.Host == "0.0.0.0" || l.Host == "::" {
			l.Host = "127.0.0.1"
		}
		out = append(out, metadata.Endpoint{Name: l.Name, Host: l.Host, Port: l.Port})
	}
	return out
}

func isControllerListener(name string, controllerNames []string) bool {
	for _, c := range controllerNames {
		if strings.EqualFold(c, name) {
			return true
		}
	}
	return false
}
