"""
Twisted's IMAP4 server (twisted.mail.imap4.IMAP4Server, Debian's
python3-twisted) on loopback, for integration tests. Twisted ships the
protocol and an in-memory account (MemoryAccount) whose mailboxes it leaves
to the application: the small in-memory IMailbox below is that part. Each
message keeps its bytes as stored; its header fields are read with Python's
email package, as a Twisted application would, so 8-bit header bytes come
back as the surrogate escapes email gives them and Twisted's own code
(_formatHeaders / networkString) is what meets them.

Usage: twisted-imap.py PORT USER PASSWORD; prints "READY <port>" once listening.
"""

import sys
import time
from email.parser import BytesHeaderParser
from email.policy import compat32
from io import BytesIO

from twisted.cred import checkers, portal
from twisted.internet import defer, protocol, reactor
from twisted.mail import imap4
from zope.interface import implementer


@implementer(imap4.IMessage, imap4.IMessageFile)
class Message:
    def __init__(self, uid, content, flags, date):
        self.uid = uid
        self.content = content
        self.flags = list(flags)
        self.date = date or time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime())
        split = content.find(b"\r\n\r\n")
        self.header_bytes = content if split < 0 else content[: split + 2]
        self.body = b"" if split < 0 else content[split + 4 :]
        self.parsed = BytesHeaderParser(policy=compat32).parsebytes(self.header_bytes)

    def getUID(self):
        return self.uid

    def getFlags(self):
        return self.flags

    def getInternalDate(self):
        return self.date

    def getHeaders(self, negate, *names):
        # Twisted hands the field names over as bytes.
        wanted = {(n.decode("ascii") if isinstance(n, bytes) else n).lower() for n in names}
        headers = {}
        for name, value in self.parsed.items():
            if (name.lower() in wanted) != bool(negate):
                headers[name.lower()] = str(value)
        return headers

    def getBodyFile(self):
        return BytesIO(self.body)

    def getSize(self):
        return len(self.content)

    def isMultipart(self):
        return False

    def getSubPart(self, part):
        raise IndexError(part)

    def open(self):
        return BytesIO(self.content)


@implementer(imap4.IMailbox, imap4.ICloseableMailbox)
class Mailbox:
    def __init__(self, uid_validity):
        self.uid_validity = uid_validity
        self.uid_next = 1
        self.messages = []
        self.listeners = []

    def getFlags(self):
        return [r"\Seen", r"\Answered", r"\Flagged", r"\Deleted", r"\Draft"]

    def getHierarchicalDelimiter(self):
        return "/"

    def getUIDValidity(self):
        return self.uid_validity

    def getUIDNext(self):
        return self.uid_next

    def getUID(self, message):
        return self.messages[message - 1].uid

    def getMessageCount(self):
        return len(self.messages)

    def getRecentCount(self):
        return 0

    def getUnseenCount(self):
        return sum(1 for m in self.messages if r"\Seen" not in m.flags)

    def isWriteable(self):
        return True

    def destroy(self):
        self.messages = []

    def close(self):
        return None

    def requestStatus(self, names):
        return imap4.statusRequestHelper(self, names)

    def addListener(self, listener):
        self.listeners.append(listener)

    def removeListener(self, listener):
        self.listeners.remove(listener)

    def addMessage(self, message, flags=(), date=None):
        message.seek(0)
        m = Message(self.uid_next, message.read(), flags, date)
        self.uid_next += 1
        self.messages.append(m)
        for listener in self.listeners:
            listener.newMessages(len(self.messages), None)
        return defer.succeed(m.uid)

    def expunge(self):
        gone = [m.uid for m in self.messages if r"\Deleted" in m.flags]
        self.messages = [m for m in self.messages if r"\Deleted" not in m.flags]
        return gone

    def _select(self, messages, uid):
        if uid:
            if not self.messages:
                return []
            messages.last = self.messages[-1].uid
            return [(i + 1, m) for i, m in enumerate(self.messages) if m.uid in messages]
        messages.last = len(self.messages)
        return [(i + 1, m) for i, m in enumerate(self.messages) if (i + 1) in messages]

    def fetch(self, messages, uid):
        return self._select(messages, uid)

    def store(self, messages, flags, mode, uid):
        result = {}
        for seq, m in self._select(messages, uid):
            if mode == 0:
                m.flags = list(flags)
            elif mode > 0:
                m.flags = m.flags + [f for f in flags if f not in m.flags]
            else:
                m.flags = [f for f in m.flags if f not in flags]
            result[seq] = m.flags
        return result


class Account(imap4.MemoryAccount):
    def _emptyMailbox(self, name, id):
        return Mailbox(int(time.time()) + id)


@implementer(portal.IRealm)
class Realm:
    def __init__(self, accounts):
        self.accounts = accounts

    def requestAvatar(self, avatar_id, mind, *interfaces):
        if imap4.IAccount not in interfaces:
            raise NotImplementedError()
        name = avatar_id.decode() if isinstance(avatar_id, bytes) else avatar_id
        return imap4.IAccount, self.accounts[name], lambda: None


class Factory(protocol.Factory):
    def __init__(self, portal_):
        self.portal = portal_

    def buildProtocol(self, addr):
        p = imap4.IMAP4Server()
        p.portal = self.portal
        p.factory = self
        return p


def main():
    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    account = Account(user)
    account.addMailbox("INBOX")
    checker = checkers.InMemoryUsernamePasswordDatabaseDontUse(**{user: password.encode()})
    p = portal.Portal(Realm({user: account}), [checker])
    listening = reactor.listenTCP(port, Factory(p), interface="127.0.0.1")
    print(f"READY {listening.getHost().port}", flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
