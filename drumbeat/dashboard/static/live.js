// A small client of the graphql-transport-ws protocol: one WebSocket, many subscriptions.
//   const live = new LiveConnection(token, { onClose });
//   await live.open();                     // connection_init (token) → connection_ack
//   const stop = live.subscribe(query, variables, { next, error, complete });

const PROTOCOL = "graphql-transport-ws";
const ACK_TIMEOUT_MS = 10000;

export class LiveConnection {
  constructor(token, { onClose = () => {} } = {}) {
    this.token = token;
    this.onClose = onClose;
    this.handlers = new Map();
    this.nextId = 1;
    this.socket = null;
    this.closedByUs = false;
  }

  open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/graphql`, PROTOCOL);
    this.socket = socket;
    return new Promise((resolve, reject) => {
      let acked = false;
      const timer = setTimeout(() => socket.close(4408, "connection_ack timeout"), ACK_TIMEOUT_MS);
      socket.onopen = () => {
        this.send({ type: "connection_init", payload: { Authorization: `Bearer ${this.token}` } });
      };
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (message.type === "connection_ack") {
          acked = true;
          clearTimeout(timer);
          resolve();
        } else {
          this.receive(message);
        }
      };
      socket.onclose = (event) => {
        clearTimeout(timer);
        const reason = closeReason(event);
        this.handlers.clear();
        if (!acked) reject(new Error(reason));
        else if (!this.closedByUs) this.onClose(reason);
      };
    });
  }

  receive(message) {
    const handler = this.handlers.get(message.id);
    switch (message.type) {
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next":
        if (message.payload.errors) handler?.error?.(messages(message.payload.errors));
        else handler?.next?.(message.payload.data);
        break;
      case "error":
        this.handlers.delete(message.id);
        handler?.error?.(messages(message.payload));
        break;
      case "complete":
        this.handlers.delete(message.id);
        handler?.complete?.();
        break;
    }
  }

  subscribe(query, variables, handler) {
    const id = String(this.nextId++);
    this.handlers.set(id, handler);
    this.send({ id, type: "subscribe", payload: { query, variables } });
    return () => {
      if (this.handlers.delete(id)) this.send({ id, type: "complete" });
    };
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  close() {
    this.closedByUs = true;
    this.socket?.close(1000, "bye");
  }
}

function messages(errors) {
  return (Array.isArray(errors) ? errors : [errors]).map((e) => e.message).join("; ");
}

function closeReason(event) {
  if (event.code === 4403) return "The token was refused.";
  if (event.reason) return `Connection closed: ${event.reason} (${event.code}).`;
  return `Connection closed (${event.code}).`;
}
