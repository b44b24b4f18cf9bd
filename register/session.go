package register

import (
	"context"
	"time"

	"github.com/riskreg/riskreg/domain"
)

// Session is a session of a body as folded from its stream, with the times
// the store recorded its first and last events.
type Session struct {
	*domain.Session
	CreatedAt time.Time
	UpdatedAt time.Time
}

func sessionOf(f folded[*domain.Session], err error) (Session, error) {
	return Session{Session: f.agg, CreatedAt: f.createdAt, UpdatedAt: f.updatedAt}, err
}

// ScheduleSession schedules a session of body on date.
func (s *Service) ScheduleSession(ctx context.Context, req Request, body domain.Body, date domain.Date, title string) (Session, error) {
	return sessionOf(create(ctx, s, req, domain.ActionScheduleSession, domain.StreamSession, domain.SessionFromHistory,
		func(id string) ([]domain.Event, error) {
			return domain.ScheduleSession(id, body, date, title, req.Principal.Subject)
		}))
}

// TableItem tables a risk or response for a session, pinned at the version
// it has now.
func (s *Service) TableItem(ctx context.Context, req Request, sessionID, subjectID, note string) (Session, error) {
	if err := req.Principal.Authorize(domain.ActionTableItem); err != nil {
		return Session{}, err
	}
	streamType, version, found, err := s.store.StreamInfo(ctx, subjectID)
	if err != nil {
		return Session{}, err
	}
	var kind domain.SubjectKind
	switch {
	case found && streamType == domain.StreamRisk:
		kind = domain.SubjectKindRisk
	case found && streamType == domain.StreamResponse:
		kind = domain.SubjectKindResponse
	default:
		return Session{}, &domain.NotFoundError{Kind: "subject", ID: subjectID}
	}
	cur, err := load(ctx, s, domain.StreamSession, sessionID, AsOf{}, domain.SessionFromHistory)
	if err != nil {
		return Session{}, err
	}
	return sessionOf(change(ctx, s, req, domain.ActionTableItem, domain.StreamSession, sessionID, cur.agg.Version(),
		domain.SessionFromHistory, func(sess *domain.Session) ([]domain.Event, error) {
			return sess.TableItem(subjectID, kind, int(version), note, req.Principal.Subject)
		}))
}

// Session returns a session as it stands.
func (s *Service) Session(ctx context.Context, id string) (Session, error) {
	return sessionOf(load(ctx, s, domain.StreamSession, id, AsOf{}, domain.SessionFromHistory))
}
