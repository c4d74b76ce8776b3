package handlers

// ApiVersions (key 18), versions 0-4.
//
// Lists every API in the registry with its version range. A request at a
// version above our range is answered by the server as v0 with
// UNSUPPORTED_VERSION and this same list (KIP-511). No authorization (as
// Kafka).
//
// Features (v3+, KIP-584): SupportedFeatures lists transaction.version
// 0-2. FinalizedFeatures lists transaction.version at the level of the
// broker config transaction.version (which Kafka finalizes with
// kafka-features; every Fjord broker of a cluster must be configured
// alike), and nothing at level 0, as Kafka omits a feature finalized at
// 0. Clients use KIP-890 part 2 (Produce v12, TxnOffsetCommit v5 and
// EndTxn v5 instead of AddPartitionsToTxn and AddOffsetsToTxn) only when
// it is finalized at 2. FinalizedFeaturesEpoch is always
// finalizedFeaturesEpoch (Kafka's is the metadata offset of the last
// feature change; clients keep the features of the highest epoch seen).
// metadata.version and the other features Kafka reports are not listed.

import (
	"context"
	"slices"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Feature negotiation.
const (
	// transactionVersionFeature is the feature of KIP-890 part 2.
	transactionVersionFeature = "transaction.version"
	// maxTransactionVersion is the highest transaction.version level
	// Fjord implements.
	maxTransactionVersion = 2
	// finalizedFeaturesEpoch is the constant FinalizedFeaturesEpoch:
	// never negative (clients ignore the finalized features then), never
	// decreasing.
	finalizedFeaturesEpoch = 1
)

func (h *Handlers) apiVersions(_ context.Context, req *server.Request) server.Reply {
	resp := kmsg.NewPtrApiVersionsResponse()
	keys := make([]kmsg.Key, 0, len(h.reg))
	for k := range h.reg {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		a := h.reg[k]
		v := kmsg.NewApiVersionsResponseApiKey()
		v.ApiKey, v.MinVersion, v.MaxVersion = int16(k), a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, v)
	}
	h.addFeatures(resp)
	return respond(req, resp)
}

// addFeatures fills the v3+ feature fields (ignored when encoding older
// versions).
func (h *Handlers) addFeatures(resp *kmsg.ApiVersionsResponse) {
	sf := kmsg.NewApiVersionsResponseSupportedFeature()
	sf.Name, sf.MinVersion, sf.MaxVersion = transactionVersionFeature, 0, maxTransactionVersion
	resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
	resp.FinalizedFeaturesEpoch = finalizedFeaturesEpoch
	if level := h.transactionVersion(); level > 0 {
		ff := kmsg.NewApiVersionsResponseFinalizedFeature()
		ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = transactionVersionFeature, level, level
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
	}
}

// transactionVersion is the configured transaction.version level (0
// without a config).
func (h *Handlers) transactionVersion() int16 {
	if h.d.Config == nil {
		return 0
	}
	return int16(h.d.Config.Int("transaction.version"))
}
