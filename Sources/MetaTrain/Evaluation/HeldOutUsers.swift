/// One held-out user of a user-cold file (``UserColdFolds``): the rows of a ``CSVTable`` that
/// are its support set (sent as feedback before scoring) and its query (ranked).
public struct HeldOutUser: Sendable, Equatable {
    /// The task-key value (user id) as written in the file.
    public let user: String
    /// Table rows with role `support`, in file order (the protocol writes them by time).
    public var support: [Int] = []
    /// Table rows with role `query`, in file order.
    public var query: [Int] = []

    public init(user: String, support: [Int] = [], query: [Int] = []) {
        self.user = user
        self.support = support
        self.query = query
    }
}

extension CSVTable {
    /// Groups the rows by the `userColumn` value (users in order of first appearance) and splits
    /// each user's rows by the `roleColumn` (`support` or `query`, see ``HeldOutRole``).
    ///
    /// Users without a query row are dropped (nothing to rank); a user without support rows is
    /// kept (it is scored without adaptation).
    /// - Throws: ``DataError/invalidValue(file:line:column:name:reason:)`` naming the cell of
    ///   an empty user id or a role other than `support` / `query`; ``DataError/missingColumn(file:column:header:)``
    ///   when either column was not kept.
    public func heldOutUsers(userColumn: String, roleColumn: String = HeldOutRole.columnName) throws(DataError) -> [HeldOutUser] {
        guard let u = column(named: userColumn) else { throw .missingColumn(file: file, column: userColumn, header: columns) }
        guard let r = column(named: roleColumn) else { throw .missingColumn(file: file, column: roleColumn, header: columns) }
        var position: [String: Int] = [:]
        var users: [HeldOutUser] = []
        for row in rows.indices {
            let user = rows[row][u]
            guard !user.isEmpty else { throw invalidValue(row: row, column: u, reason: "empty user id") }
            let p: Int
            if let known = position[user] {
                p = known
            } else {
                p = users.count
                position[user] = p
                users.append(HeldOutUser(user: user))
            }
            switch HeldOutRole(rawValue: String(rows[row][r].trimmingSpaces)) {
            case .support: users[p].support.append(row)
            case .query: users[p].query.append(row)
            case nil: throw invalidValue(row: row, column: r, reason: "expected support or query, found \"\(rows[row][r])\"")
            }
        }
        return users.filter { !$0.query.isEmpty }
    }
}
