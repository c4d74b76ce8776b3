package coordinator

import "github.com/twmb/franz-go/pkg/kmsg"

// TxnErrorResponse answers a transaction coordinator request with code
// everywhere its response has an error: InitProducerId (with producer id
// and epoch -1), AddPartitionsToTxn (each partition of v0-3; v4+ each
// partition of each transaction), AddOffsetsToTxn, EndTxn and each id of
// DescribeTransactions.
func TxnErrorResponse(req kmsg.Request, code int16) kmsg.Response {
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	switch r := req.(type) {
	case *kmsg.InitProducerIDRequest:
		out := resp.(*kmsg.InitProducerIDResponse)
		out.ErrorCode, out.ProducerID, out.ProducerEpoch = code, -1, -1
	case *kmsg.AddPartitionsToTxnRequest:
		fillAddPartitions(r, resp.(*kmsg.AddPartitionsToTxnResponse), code)
	case *kmsg.AddOffsetsToTxnRequest:
		resp.(*kmsg.AddOffsetsToTxnResponse).ErrorCode = code
	case *kmsg.EndTxnRequest:
		out := resp.(*kmsg.EndTxnResponse)
		out.ErrorCode, out.ProducerID, out.ProducerEpoch = code, -1, -1
	case *kmsg.DescribeTransactionsRequest:
		out := resp.(*kmsg.DescribeTransactionsResponse)
		for _, id := range r.TransactionalIDs {
			s := kmsg.NewDescribeTransactionsResponseTransactionState()
			s.TransactionalID, s.ErrorCode, s.ProducerID, s.ProducerEpoch = id, code, -1, -1
			out.TransactionStates = append(out.TransactionStates, s)
		}
	}
	return resp
}

// fillAddPartitions answers every partition of an AddPartitionsToTxn
// with code.
func fillAddPartitions(r *kmsg.AddPartitionsToTxnRequest, out *kmsg.AddPartitionsToTxnResponse, code int16) {
	if r.Version < 4 {
		out.Topics = addPartitionsResults(r.Topics, code)
		return
	}
	for _, t := range r.Transactions {
		rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rt.TransactionalID = t.TransactionalID
		for _, tr := range addPartitionsResults(t.Topics, code) {
			rtt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rtt.Topic = tr.Topic
			for _, p := range tr.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, p.ErrorCode
				rtt.Partitions = append(rtt.Partitions, rp)
			}
			rt.Topics = append(rt.Topics, rtt)
		}
		out.Transactions = append(out.Transactions, rt)
	}
}

// addPartitionsResults answers each of topics' partitions with code.
func addPartitionsResults[T interface {
	kmsg.AddPartitionsToTxnRequestTopic | kmsg.AddPartitionsToTxnRequestTransactionTopic
}](topics []T, code int16) []kmsg.AddPartitionsToTxnResponseTopic {
	var out []kmsg.AddPartitionsToTxnResponseTopic
	for _, t := range topics {
		name, parts := addTopic(t)
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = name
		for _, p := range parts {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return out
}

func addTopic(t any) (string, []int32) {
	switch t := t.(type) {
	case kmsg.AddPartitionsToTxnRequestTopic:
		return t.Topic, t.Partitions
	case kmsg.AddPartitionsToTxnRequestTransactionTopic:
		return t.Topic, t.Partitions
	}
	return "", nil
}
