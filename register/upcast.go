package register

import (
	"encoding/json"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// Upcasters returns the schema upgrades of the register's events, for
// eventstore.Config.Upcasters: every reader of the log sees current versions.
func Upcasters() *eventstore.Upcasters {
	u := eventstore.NewUpcasters()
	u.Register(domain.EventRiskAssessed, 1, func(data json.RawMessage) (json.RawMessage, error) {
		return domain.UpcastRiskAssessedV1(data)
	})
	return u
}
