package controller

import (
	"context"
	"fmt"
	"math"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Client quotas (KIP-546's AlterClientQuotas, decided as Kafka's
// ClientQuotaControlManager): each entity's changes are validated as a
// whole and become ClientQuota records; the records of every valid entity
// are committed in one entry.

// Client quota keys (Kafka's QuotaConfigs) for user and client-id
// entities, with whether their values must be integral.
const (
	QuotaProducerByteRate       = "producer_byte_rate"
	QuotaConsumerByteRate       = "consumer_byte_rate"
	QuotaRequestPercentage      = "request_percentage"
	QuotaControllerMutationRate = "controller_mutation_rate"
)

// quotaKeyIntegral lists the keys of user and client-id quotas; true for
// those of integer type (LONG in Kafka's config definitions).
var quotaKeyIntegral = map[string]bool{
	QuotaProducerByteRate:       true,
	QuotaConsumerByteRate:       true,
	QuotaRequestPercentage:      false,
	QuotaControllerMutationRate: false,
}

// QuotaOp sets Key to Value, or removes it.
type QuotaOp struct {
	Key    string
	Value  float64
	Remove bool
}

// QuotaAlteration is one entity's changes (an AlterClientQuotas entry).
type QuotaAlteration struct {
	Entity []metadata.QuotaEntityPart
	Ops    []QuotaOp
}

// AlterClientQuotas applies the alterations: one error (nil or a
// *kerr.Error-wrapping error) per alteration. An invalid alteration
// changes nothing; with validateOnly nothing is committed at all.
func (c *Controller) AlterClientQuotas(ctx context.Context, alts []QuotaAlteration, validateOnly bool) ([]error, error) {
	return decide(ctx, c, func(t *txn) ([]error, error) {
		out := make([]error, len(alts))
		for i, a := range alts {
			recs, err := QuotaRecords(t.image(), a)
			if out[i] = err; err != nil || validateOnly || len(recs) == 0 {
				continue
			}
			t.add(recs...)
			t.failsWith(&out[i])
		}
		return out, nil
	})
}

// QuotaRecords validates one alteration against img and returns its
// records. Errors wrap kerr.InvalidRequest, as Kafka's: an empty or
// unknown entity, an unknown key, a key named twice, a fractional value
// for an integral key, or a value that is not a positive finite number.
// Removing a key that is not set needs no record.
func QuotaRecords(img *metadata.Image, a QuotaAlteration) ([]metadata.Record, error) {
	e, err := metadata.EntityOf(a.Entity)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid client quota entity: %v", kerr.InvalidRequest, err)
	}
	seen := map[string]bool{}
	var recs []metadata.Record
	for _, op := range a.Ops {
		if err := checkQuotaOp(op, seen); err != nil {
			return nil, err
		}
		rec := metadata.ClientQuota{Entity: e.Parts(), Key: op.Key}
		if op.Remove {
			if _, ok := img.ClientQuota(e, op.Key); !ok {
				continue
			}
		} else {
			v := op.Value
			rec.Value = &v
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

func checkQuotaOp(op QuotaOp, seen map[string]bool) error {
	integral, known := quotaKeyIntegral[op.Key]
	switch {
	case !known:
		return fmt.Errorf("%w: unknown quota key %q", kerr.InvalidRequest, op.Key)
	case seen[op.Key]:
		return fmt.Errorf("%w: quota key %q given more than once", kerr.InvalidRequest, op.Key)
	}
	seen[op.Key] = true
	if op.Remove {
		return nil
	}
	switch {
	case math.IsNaN(op.Value) || math.IsInf(op.Value, 0) || op.Value <= 0:
		return fmt.Errorf("%w: quota %s must be a positive number, not %v", kerr.InvalidRequest, op.Key, op.Value)
	case integral && (op.Value != math.Trunc(op.Value) || op.Value > math.MaxInt64):
		return fmt.Errorf("%w: quota %s must be an integer, not %v", kerr.InvalidRequest, op.Key, op.Value)
	}
	return nil
}
