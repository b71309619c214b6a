package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps rooms in Redis so that several Tandem instances share
// them. Each room is a hash: field = peer id, value = "<token> <lease-ms>
// <holder>", where holder is the id of the instance whose connection holds
// the seat, or "away". Every change is one Lua script, so two joins on two
// instances can never both take the last seat.
//
// Each instance subscribes to one pub/sub channel of its own. A message for
// a seat is routed by a script that reads the seat's holder and publishes to
// that instance's channel, in the same step: it follows the seat wherever
// its owner reconnects, and messages between two seats keep their order.
//
// An instance renews the leases of the seats it holds every maintenance
// interval; when it dies, its seats expire after LeaseTTL, and the other
// peers' instances notice at their next maintenance.
type RedisStore struct {
	// Static after construction.
	client   *redis.Client
	pubsub   *redis.PubSub
	instance string // this instance's id, the holder of its seats
	log      *slog.Logger
	leaseTTL time.Duration
	done     chan struct{} // closed when the receive loop has ended

	listenOnce sync.Once
	deliver    func(peerID string, msg []byte) bool // set once by Listen
	listening  chan struct{}                        // closed by Listen or Close
}

// Key prefixes in Redis.
const (
	roomKeyPrefix       = "tandem:room:"
	instanceChanPrefix  = "tandem:instance:"
	peerIDLen           = 16 // hex digits of a peer id, which prefixes each message
	awayHolder          = "away"
	defaultRedisTimeout = time.Second
)

// DefaultLeaseTTL is how long a held seat outlives its instance's last
// renewal. With the 2 s maintenance interval, a dead instance's peers are
// announced within 22 s.
const DefaultLeaseTTL = 20 * time.Second

// NewRedisStore connects to the Redis at url (redis://host:port/db), checks
// that it answers and subscribes this instance's channel. Operations fail
// fast, rather than hang, while Redis is unreachable; the client reconnects
// and subscribes again by itself.
func NewRedisStore(ctx context.Context, url string, logger *slog.Logger) (*RedisStore, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("signaling: redis URL: %w", err)
	}
	opts.DialTimeout = defaultRedisTimeout
	opts.ReadTimeout = defaultRedisTimeout
	opts.WriteTimeout = defaultRedisTimeout
	opts.PoolTimeout = defaultRedisTimeout
	opts.MaxRetries = 1
	client := redis.NewClient(opts)
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	instance := newPeerID()
	pubsub := client.Subscribe(ctx, instanceChanPrefix+instance)
	// Wait for the subscription: messages published before it would be lost.
	if _, err := pubsub.Receive(ctx); err != nil {
		_ = pubsub.Close()
		_ = client.Close()
		return nil, fmt.Errorf("%w: subscribe: %v", ErrUnavailable, err)
	}
	s := &RedisStore{
		client:    client,
		pubsub:    pubsub,
		instance:  instance,
		log:       logger.With("component", "redis", "instance", instance),
		leaseTTL:  DefaultLeaseTTL,
		done:      make(chan struct{}),
		listening: make(chan struct{}),
	}
	go s.receive()
	return s, nil
}

// Close stops receiving and closes the connections to Redis.
func (s *RedisStore) Close() error {
	s.listenOnce.Do(func() { close(s.listening) })
	err := errors.Join(s.pubsub.Close(), s.client.Close())
	<-s.done
	return err
}

func (s *RedisStore) Listen(deliver func(string, []byte) bool) {
	s.listenOnce.Do(func() {
		s.deliver = deliver
		close(s.listening)
	})
}

// receive hands every message for this instance to the hub.
func (s *RedisStore) receive() {
	defer close(s.done)
	<-s.listening
	var msg []byte // reused for every message: deliver does not keep it
	for m := range s.pubsub.Channel(redis.WithChannelSize(4096)) {
		if s.deliver == nil || len(m.Payload) < peerIDLen {
			continue
		}
		msg = append(msg[:0], m.Payload[peerIDLen:]...)
		s.deliver(m.Payload[:peerIDLen], msg)
	}
}

// unavailable wraps a Redis error so callers can tell it from a full room.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// luaLib is shared by the scripts: sweep removes the seats whose lease is
// over and returns the others; save writes a seat; expire makes the room key
// live as long as its longest lease, so that rooms of dead instances vanish.
const luaLib = `
local function sweep(key, now)
  local live = {}
  local seats = redis.call('HGETALL', key)
  for i = 1, #seats, 2 do
    local token, lease, holder = string.match(seats[i+1], '^(%S+) (%d+) (%S+)$')
    lease = tonumber(lease)
    if lease == nil or lease <= now then
      redis.call('HDEL', key, seats[i])
    else
      live[#live+1] = {id = seats[i], token = token, lease = lease, holder = holder}
    end
  end
  return live
end
local function save(key, s)
  redis.call('HSET', key, s.id, s.token .. ' ' .. s.lease .. ' ' .. s.holder)
end
local function expire(key, live)
  local maxLease = 0
  for _, s in ipairs(live) do if s.lease > maxLease then maxLease = s.lease end end
  if maxLease > 0 then redis.call('PEXPIREAT', key, maxLease + 1000) else redis.call('DEL', key) end
end
local function otherThan(live, id)
  for _, s in ipairs(live) do if s.id ~= id then return s.id end end
  return ''
end
local function find(live, id)
  for _, s in ipairs(live) do if s.id == id then return s end end
  return nil
end
`

// join: KEYS[1] room; ARGV token, now, ttl, instance, new id, new token.
var joinScript = redis.NewScript(luaLib + `
local now = tonumber(ARGV[2])
local live = sweep(KEYS[1], now)
local lease = now + tonumber(ARGV[3])
if ARGV[1] ~= '' then
  for _, s in ipairs(live) do
    if s.token == ARGV[1] then
      s.lease, s.holder = lease, ARGV[4]
      save(KEYS[1], s)
      expire(KEYS[1], live)
      return {'resumed', s.id, s.token, otherThan(live, s.id)}
    end
  end
end
if #live >= 2 then return {'full'} end
local s = {id = ARGV[5], token = ARGV[6], lease = lease, holder = ARGV[4]}
live[#live+1] = s
save(KEYS[1], s)
expire(KEYS[1], live)
return {'new', s.id, s.token, otherThan(live, s.id)}
`)

// leave: KEYS[1] room; ARGV peer id, now, instance. Frees the seat if this
// instance holds it; returns the other peer's id.
var leaveScript = redis.NewScript(luaLib + `
local live = sweep(KEYS[1], tonumber(ARGV[2]))
local s = find(live, ARGV[1])
if s == nil or s.holder ~= ARGV[3] then return '' end
redis.call('HDEL', KEYS[1], s.id)
local rest = {}
for _, o in ipairs(live) do if o.id ~= s.id then rest[#rest+1] = o end end
expire(KEYS[1], rest)
return otherThan(rest, s.id)
`)

// lease: KEYS[1] room; ARGV peer id, now, lease length, instance, mode.
// Mode "away" gives a seat this instance holds its grace period; mode
// "renew" extends it. A seat held by another instance (taken back there) or
// away is left alone: a renewal racing with a drop must not undo it.
// Returns {exists, held here, other id}.
var leaseScript = redis.NewScript(luaLib + `
local now = tonumber(ARGV[2])
local live = sweep(KEYS[1], now)
local s = find(live, ARGV[1])
if s == nil then expire(KEYS[1], live) return {0, 0, ''} end
if s.holder == ARGV[4] then
  s.lease = now + tonumber(ARGV[3])
  if ARGV[5] == 'away' then s.holder = 'away' end
  save(KEYS[1], s)
end
expire(KEYS[1], live)
local here = 0
if s.holder == ARGV[4] or s.holder == 'away' then here = 1 end
return {1, here, otherThan(live, s.id)}
`)

// route: KEYS[1] room; ARGV peer id, message. Publishes the peer id and the
// message to the instance holding the seat; returns how many got it.
var routeScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local holder = string.match(v, ' (%S+)$')
if holder == nil or holder == 'away' then return 0 end
return redis.call('PUBLISH', '` + instanceChanPrefix + `' .. holder, ARGV[1] .. ARGV[2])
`)

func roomKey(room string) string { return roomKeyPrefix + room }

func nowMillis() int64 { return time.Now().UnixMilli() }

func (s *RedisStore) Join(ctx context.Context, room, token string) (JoinResult, error) {
	res, err := joinScript.Run(ctx, s.client, []string{roomKey(room)},
		token, nowMillis(), s.leaseTTL.Milliseconds(), s.instance, newPeerID(), newSeatToken()).StringSlice()
	if err != nil {
		return JoinResult{}, unavailable(err)
	}
	if len(res) == 1 && res[0] == "full" {
		return JoinResult{}, ErrRoomFull
	}
	if len(res) != 4 {
		return JoinResult{}, fmt.Errorf("signaling: join script returned %q", res)
	}
	return JoinResult{PeerID: res[1], SeatToken: res[2], OtherID: res[3], Resumed: res[0] == "resumed"}, nil
}

func (s *RedisStore) Leave(ctx context.Context, room, peerID string) (string, error) {
	other, err := leaveScript.Run(ctx, s.client, []string{roomKey(room)}, peerID, nowMillis(), s.instance).Text()
	return other, unavailable(err)
}

func (s *RedisStore) Away(ctx context.Context, room, peerID string, grace time.Duration) error {
	return unavailable(leaseScript.Run(ctx, s.client, []string{roomKey(room)},
		peerID, nowMillis(), grace.Milliseconds(), s.instance, "away").Err())
}

// maintainBatch is how many seats one renewal pipeline carries. Each
// pipeline gets the client's read timeout of its own: an instance holding
// 16,000 seats on a busy machine would otherwise need all their replies
// within one second, and lose its leases when it cannot.
const maintainBatch = 500

// Maintain renews every held seat, in pipelines of maintainBatch.
func (s *RedisStore) Maintain(ctx context.Context, held []SeatRef) ([]SeatState, error) {
	if len(held) == 0 {
		return nil, unavailable(s.client.Ping(ctx).Err())
	}
	states := make([]SeatState, 0, len(held))
	for batch := range slices.Chunk(held, maintainBatch) {
		got, err := s.renew(ctx, batch)
		if err != nil {
			return nil, err
		}
		states = append(states, got...)
	}
	return states, nil
}

// renew renews the leases of held in one pipeline.
func (s *RedisStore) renew(ctx context.Context, held []SeatRef) ([]SeatState, error) {
	run := func() ([]redis.Cmder, error) {
		pipe := s.client.Pipeline()
		now, ttl := nowMillis(), s.leaseTTL.Milliseconds()
		for _, ref := range held {
			leaseScript.EvalSha(ctx, pipe, []string{roomKey(ref.Room)}, ref.PeerID, now, ttl, s.instance, "renew")
		}
		return pipe.Exec(ctx)
	}
	cmds, err := run()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Redis restarted and forgot the script.
		if err := leaseScript.Load(ctx, s.client).Err(); err != nil {
			return nil, unavailable(err)
		}
		cmds, err = run()
	}
	if err != nil {
		return nil, unavailable(err)
	}
	states := make([]SeatState, len(held))
	for i, cmd := range cmds {
		v, err := cmd.(*redis.Cmd).Slice()
		if err != nil || len(v) != 3 {
			return nil, unavailable(fmt.Errorf("lease script: %v %v", v, err))
		}
		exists, _ := v[0].(int64)
		here, _ := v[1].(int64)
		other, _ := v[2].(string)
		states[i] = SeatState{Exists: exists == 1, Moved: exists == 1 && here == 0, OtherID: other}
	}
	return states, nil
}

func (s *RedisStore) Publish(ctx context.Context, room, peerID string, msg []byte) (bool, error) {
	n, err := routeScript.Run(ctx, s.client, []string{roomKey(room)}, peerID, msg).Int64()
	return n > 0, unavailable(err)
}

// Ready checks that Redis answers and that this instance's subscription is
// live (after Redis restarts, the client subscribes again by itself): a
// probe published to its own channel must have a receiver.
func (s *RedisStore) Ready(ctx context.Context) error {
	n, err := s.client.Publish(ctx, instanceChanPrefix+s.instance, "").Result()
	if err != nil {
		return unavailable(err)
	}
	if n == 0 {
		return fmt.Errorf("%w: not subscribed yet", ErrUnavailable)
	}
	return nil
}

func (s *RedisStore) Counts(ctx context.Context) (rooms, seats int, err error) {
	iter := s.client.Scan(ctx, 0, roomKeyPrefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		n, err := s.client.HLen(ctx, iter.Val()).Result()
		if err != nil {
			return 0, 0, unavailable(err)
		}
		if n > 0 {
			rooms++
			seats += int(n)
		}
	}
	return rooms, seats, unavailable(iter.Err())
}
