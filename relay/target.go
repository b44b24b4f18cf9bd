package relay

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Default names of the broker resources, changed by URL query parameters.
const (
	// DefaultStream is the JetStream stream the NATS backend publishes to
	// (?stream=).
	DefaultStream = "RISKREG"
	// DefaultExchange is the durable topic exchange of the AMQP backend
	// (?exchange=).
	DefaultExchange = "riskreg.events"
	// DefaultTopicName is the single topic of the PostgreSQL and gochannel
	// backends (?topic=).
	DefaultTopicName = "riskreg.events"
)

// ErrBadURL reports a broker URL that names no backend this package knows,
// or that is malformed. It never carries the URL's credentials.
var ErrBadURL = errors.New("relay: bad broker URL")

// Backend kinds.
const (
	kindNATS      = "nats"
	kindAMQP      = "amqp"
	kindPostgres  = "postgres"
	kindGoChannel = "gochannel"
)

// target is a broker named by URL.
type target struct {
	kind string
	// connect is the URL to hand to the client library: credentials
	// included, riskreg's own query parameters removed. Never log it.
	connect string
	// public is the URL without credentials or foreign query parameters.
	public string
	// resource is the stream (NATS), exchange (AMQP), topic (PostgreSQL,
	// gochannel) the target publishes to.
	resource string
	// secrets are the URL's password and user name, to scrub from errors.
	secrets []string
	// prefix is the NATS subject prefix.
	prefix string
	// channel names the in-process gochannel.
	channel string
}

var (
	natsName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	subject  = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
	amqpName = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)
	sqlTopic = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)
)

// parseTarget parses a broker URL:
//
//	nats://[user:pass@]host:4222[?stream=RISKREG&prefix=riskreg.events]
//	amqp://user:pass@host:5672/[vhost][?exchange=riskreg.events]   (or amqps://)
//	postgres://user:pass@host:5432/brokerdb[?topic=riskreg.events&...]
//	gochannel:[name][?topic=riskreg.events]
func parseTarget(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse errors quote the whole URL, password included.
		return nil, fmt.Errorf("%w: cannot parse it", ErrBadURL)
	}
	q := u.Query()
	take := func(key, def string) string {
		v := q.Get(key)
		q.Del(key)
		if v == "" {
			return def
		}
		return v
	}
	t := &target{}
	switch u.Scheme {
	case "nats", "tls":
		t.kind = kindNATS
		t.resource = take("stream", DefaultStream)
		t.prefix = take("prefix", DefaultSubjectPrefix)
		if !natsName.MatchString(t.resource) {
			return nil, fmt.Errorf("%w: stream name %q", ErrBadURL, t.resource)
		}
		if !subject.MatchString(t.prefix) {
			return nil, fmt.Errorf("%w: subject prefix %q", ErrBadURL, t.prefix)
		}
	case "amqp", "amqps":
		t.kind = kindAMQP
		t.resource = take("exchange", DefaultExchange)
		if !amqpName.MatchString(t.resource) {
			return nil, fmt.Errorf("%w: exchange name %q", ErrBadURL, t.resource)
		}
	case "postgres", "postgresql":
		t.kind = kindPostgres
		t.resource = take("topic", DefaultTopicName)
		if !sqlTopic.MatchString(t.resource) {
			return nil, fmt.Errorf("%w: topic %q", ErrBadURL, t.resource)
		}
	case "gochannel":
		t.kind = kindGoChannel
		t.resource = take("topic", DefaultTopicName)
		t.channel = cmp.Or(u.Opaque, u.Host, "default")
		t.connect = "gochannel:" + t.channel
		t.public = t.connect + "?topic=" + t.resource
		return t, nil
	default:
		return nil, fmt.Errorf("%w: scheme %q; want nats://, amqp://, postgres:// or gochannel:", ErrBadURL, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: no host in the %s URL", ErrBadURL, u.Scheme)
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		t.secrets = append(t.secrets, pw)
	}
	if pw := q.Get("password"); pw != "" {
		t.secrets = append(t.secrets, pw)
	}
	if name := u.User.Username(); name != "" {
		t.secrets = append(t.secrets, "user="+name, name+"@", name+":")
	}
	u.RawQuery = q.Encode()
	t.connect = u.String()

	pub := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	params := url.Values{}
	switch t.kind {
	case kindNATS:
		params.Set("stream", t.resource)
		params.Set("prefix", t.prefix)
	case kindAMQP:
		params.Set("exchange", t.resource)
	case kindPostgres:
		params.Set("topic", t.resource)
	}
	pub.RawQuery = params.Encode()
	t.public = pub.String()
	return t, nil
}

// name is the checkpoint name of a relay to t: "relay:" and the URL without
// credentials, so that each target has its own checkpoint.
func (t *target) name() string {
	return "relay:" + t.public
}

// topic returns the Watermill topic of an event for t.
func (t *target) topic(streamType, eventType string) string {
	switch t.kind {
	case kindNATS:
		return t.prefix + "." + streamType + "." + eventType
	case kindAMQP:
		return streamType + "." + eventType
	}
	return t.resource
}

// subscribeTopic returns the topic a consumer subscribes to for every event.
func (t *target) subscribeTopic() string {
	switch t.kind {
	case kindNATS:
		return t.prefix + ".>"
	case kindAMQP:
		return "#"
	}
	return t.resource
}

// poison returns the target that a consumer group's poisoned messages go to
// and their topic: a stream, exchange or topic beside the events', so that
// they never mix with the events.
func (t *target) poison(group string) (*target, string) {
	p := *t
	switch t.kind {
	case kindNATS:
		p.resource = t.resource + "_POISON"
		p.prefix = t.prefix + "_poison"
		return &p, p.prefix + "." + group
	case kindAMQP:
		p.resource = t.resource + ".poison"
		return &p, group
	}
	p.resource = t.resource + ".poison"
	return &p, p.resource
}

// scrub removes the URL's user name and password from an error's text:
// client libraries quote them (pgx says "user=NAME").
func (t *target) scrub(err error) error {
	if err == nil || len(t.secrets) == 0 {
		return err
	}
	msg := err.Error()
	for _, s := range t.secrets {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	if msg == err.Error() {
		return err
	}
	return &scrubbedError{msg: msg, err: err}
}

// scrubbedError is an error whose text lost its credentials; Unwrap still
// reaches the original, for errors.Is.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// String returns the URL without credentials.
func (t *target) String() string { return t.public }
