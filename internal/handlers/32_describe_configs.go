package handlers

// DescribeConfigs (key 32), versions 0-4.
//
// Topic resources list every topic config with its effective value and
// source (DYNAMIC_TOPIC_CONFIG, DYNAMIC_BROKER_CONFIG,
// DYNAMIC_DEFAULT_BROKER_CONFIG, STATIC_BROKER_CONFIG or DEFAULT_CONFIG),
// with synonyms when asked (v1+), types (v3+) and documentation when asked.
// As in Kafka (ConfigHelper): a broker resource named by this node's id
// lists every broker config with its effective value (dynamic for this
// broker, dynamic cluster default, static, default), its synonyms in that
// order (config.Broker.Synonyms) and read-only unless it is dynamic; the
// cluster-default resource ("") lists only the dynamic defaults set, with
// their DYNAMIC_DEFAULT_BROKER_CONFIG synonyms. Unknown topics get
// UNKNOWN_TOPIC_OR_PARTITION; other brokers' ids, names that are not
// broker ids and other resource types get INVALID_REQUEST.
//
// Authorization (as Kafka), per resource before it is looked up:
// DESCRIBE_CONFIGS on the topic (else TOPIC_AUTHORIZATION_FAILED), on the
// cluster for broker, broker-logger and client-metrics resources (else
// CLUSTER_AUTHORIZATION_FAILED), on the group for group resources (else
// GROUP_AUTHORIZATION_FAILED); refused resources carry no configs.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) describeConfigs(_ context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DescribeConfigsRequest)
	resp := kmsg.NewPtrDescribeConfigsResponse()
	for _, res := range r.Resources {
		out := kmsg.NewDescribeConfigsResponseResource()
		out.ResourceType, out.ResourceName = res.ResourceType, res.ResourceName
		var err error
		out.Configs, err = h.resourceConfigs(req, r, res)
		out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, out)
	}
	return respond(req, resp)
}

// resourceConfigs describes one resource the principal may describe.
func (h *Handlers) resourceConfigs(req *server.Request, r *kmsg.DescribeConfigsRequest, res kmsg.DescribeConfigsRequestResource) ([]kmsg.DescribeConfigsResponseResourceConfig, error) {
	if e := h.configResourceError(req, metadata.ACLOpDescribeConfigs, res.ResourceType, res.ResourceName); e != nil {
		return nil, e
	}
	switch int8(res.ResourceType) {
	case metadata.ResourceTopic:
		return h.topicConfigs(r, res)
	case metadata.ResourceBroker:
		return h.brokerConfigs(r, res)
	}
	return nil, kerr.InvalidRequest
}

func wanted(names []string, name string) bool {
	return names == nil || slices.Contains(names, name)
}

func (h *Handlers) topicConfigs(r *kmsg.DescribeConfigsRequest, res kmsg.DescribeConfigsRequestResource) ([]kmsg.DescribeConfigsResponseResourceConfig, error) {
	img := h.d.Image()
	if _, ok := img.Topic(res.ResourceName); !ok {
		return nil, kerr.UnknownTopicOrPartition
	}
	topic := config.NewTopic(img.TopicConfig(res.ResourceName), h.d.Config)
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, d := range config.TopicDefs() {
		if !wanted(res.ConfigNames, d.Name) {
			continue
		}
		e, _ := topic.Entry(d.Name)
		out = append(out, describeEntry(r, d.Def, e.Value, e.Null, e.Source, e.Synonyms))
	}
	return out, nil
}

func (h *Handlers) brokerConfigs(r *kmsg.DescribeConfigsRequest, res kmsg.DescribeConfigsRequestResource) ([]kmsg.DescribeConfigsResponseResourceConfig, error) {
	if res.ResourceName == "" {
		return h.brokerDefaultConfigs(r, res), nil
	}
	if err := h.ownBrokerResource(res.ResourceName); err != nil {
		return nil, err
	}
	cfg := h.d.Config
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, d := range config.BrokerDefs() {
		if !wanted(res.ConfigNames, d.Name) {
			continue
		}
		v, set := cfg.Value(d.Name)
		syns := cfg.Synonyms(d.Name)
		src := config.SourceDefault
		if len(syns) > 0 {
			src = syns[0].Source
		}
		c := describeEntry(r, d, v, !set, src, syns)
		c.ReadOnly = !config.IsDynamic(d.Name)
		out = append(out, c)
	}
	return out, nil
}

// brokerDefaultConfigs lists the cluster-wide dynamic defaults in effect.
func (h *Handlers) brokerDefaultConfigs(r *kmsg.DescribeConfigsRequest, res kmsg.DescribeConfigsRequestResource) []kmsg.DescribeConfigsResponseResourceConfig {
	defaults := h.d.Config.DynamicDefaults()
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, name := range slices.Sorted(maps.Keys(defaults)) {
		d, ok := config.LookupBroker(name)
		if !ok || !wanted(res.ConfigNames, name) {
			continue
		}
		var syns []config.Synonym
		for _, s := range h.d.Config.Synonyms(name) {
			if s.Source == config.SourceDynamicDefault {
				syns = append(syns, s)
			}
		}
		out = append(out, describeEntry(r, d, defaults[name], false, config.SourceDynamicDefault, syns))
	}
	return out
}

// ownBrokerResource accepts the resource name of this broker (Kafka's
// ConfigHelper: INVALID_REQUEST for a name that is not an integer or is
// another broker's id).
func (h *Handlers) ownBrokerResource(name string) error {
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return fmt.Errorf("%w: broker id must be an integer, but it is: %s", kerr.InvalidRequest, name)
	}
	if int32(id) != h.d.NodeID {
		return fmt.Errorf("%w: unexpected broker id, expected %d or empty string, but received %s", kerr.InvalidRequest, h.d.NodeID, name)
	}
	return nil
}

func describeEntry(r *kmsg.DescribeConfigsRequest, d config.Def, value string, null bool, src config.Source, syns []config.Synonym) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = d.Name
	c.IsSensitive = d.Sensitive
	if !null && !d.Sensitive {
		c.Value = &value
	}
	c.Source = kmsg.ConfigSource(src)
	c.IsDefault = src == config.SourceDefault
	c.ConfigType = kmsg.ConfigType(d.Type)
	if r.IncludeDocumentation && d.Doc != "" {
		doc := d.Doc
		c.Documentation = &doc
	}
	if r.IncludeSynonyms {
		for _, s := range syns {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			v := s.Value
			cs.Name, cs.Value, cs.Source = s.Name, &v, kmsg.ConfigSource(s.Source)
			if d.Sensitive {
				cs.Value = nil
			}
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	return c
}
